/* Resolving --model: a directory as given, else a repo id ("ORG/NAME") looked up in the
 * local Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub, or ~/.cache/huggingface/hub), at
 * models--ORG--NAME/snapshots/<rev>, where <rev> is what refs/main names, or else the only
 * (or newest) snapshot. */
#include "model_path.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int hub_root(char *out, size_t n) {
    const char *v;
    if ((v = getenv("HF_HUB_CACHE")) && *v) return snprintf(out, n, "%s", v) < (int)n;
    if ((v = getenv("HF_HOME")) && *v) return snprintf(out, n, "%s/hub", v) < (int)n;
    if ((v = getenv("HOME")) && *v)
        return snprintf(out, n, "%s/.cache/huggingface/hub", v) < (int)n;
    return 0;
}

int vlm_cli_resolve_model(const char *arg, char *out, size_t n) {
    if (is_dir(arg)) return snprintf(out, n, "%s", arg) < (int)n;
    const char *slash = strchr(arg, '/');
    if (!slash || strchr(slash + 1, '/') || slash == arg || !slash[1]) return 0;
    char root[1024], repo[1280], ref[1536];
    if (!hub_root(root, sizeof root)) return 0;
    snprintf(repo, sizeof repo, "%s/models--%.*s--%s", root, (int)(slash - arg), arg, slash + 1);
    snprintf(ref, sizeof ref, "%s/refs/main", repo);
    FILE *f = fopen(ref, "r");
    if (f) {
        char rev[128] = {0};
        int ok = fscanf(f, "%127s", rev) == 1;
        fclose(f);
        if (ok && !strchr(rev, '/') && snprintf(out, n, "%s/snapshots/%s", repo, rev) < (int)n &&
            is_dir(out))
            return 1;
    }
    /* no usable ref: the newest snapshot directory */
    char snaps[1536];
    snprintf(snaps, sizeof snaps, "%s/snapshots", repo);
    DIR *d = opendir(snaps);
    if (!d) return 0;
    struct dirent *e;
    time_t best = 0;
    int found = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", snaps, e->d_name);
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (!found || st.st_mtime > best)) {
            best = st.st_mtime;
            found = snprintf(out, n, "%s", p) < (int)n;
        }
    }
    closedir(d);
    return found;
}
