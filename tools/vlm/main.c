/* `vlm`: the command-line front end. Dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vlm.h"

static const vlm_command commands[] = {
    {"inspect", "describe a checkpoint directory without loading tensors", vlm_cmd_inspect},
    {"tokenize", "encode stdin with a tokenizer.json, print the ids", vlm_cmd_tokenize},
    {"preprocess", "write the pixel tensors a model is given to a safetensors file", vlm_cmd_preprocess},
    {"template", "render a checkpoint's chat template for a messages file", vlm_cmd_template},
    {"generate", "answer one prompt about images or a video", vlm_cmd_generate},
    {"chat", "an interactive conversation", vlm_cmd_chat},
    {"convert", "write a checkpoint in mlx-vlm's layout, optionally MLX-quantized", vlm_cmd_convert},
};

static void usage(FILE *f) {
    fprintf(f, "vlm %s — vision-language models in C\n\nusage: vlm COMMAND [ARGS]\n\n",
            vlm_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`vlm COMMAND --help` describes one command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vlm %s\n", vlm_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vlm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
