/* The `vlm` command's subcommands: each is one file cmd_<name>.c with one entry point.
 * An entry returns the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef VLM_TOOLS_COMMANDS_H
#define VLM_TOOLS_COMMANDS_H

typedef struct vlm_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} vlm_command;

int vlm_cmd_inspect(int argc, char **argv);
int vlm_cmd_tokenize(int argc, char **argv);
int vlm_cmd_preprocess(int argc, char **argv);
int vlm_cmd_template(int argc, char **argv);
int vlm_cmd_generate(int argc, char **argv);
int vlm_cmd_chat(int argc, char **argv);
int vlm_cmd_convert(int argc, char **argv);

#endif
