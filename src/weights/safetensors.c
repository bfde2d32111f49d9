/* The safetensors reader (see safetensors.h): opens one file, a sharded set through its
 * model.safetensors.index.json, or a checkpoint directory, into one name space with
 * lookup by binary search over the sorted names. Each file is mapped whole, or with
 * VLM_ST_HEADER_ONLY only its 8-byte length and header are read. Header rules live in
 * safetensors_header.c; this file checks the length prefix, the shard index and names
 * across files. */
#include "weights/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "weights/safetensors_header.h"

typedef struct st_file {
    char *path;
    vlm_mapped_file map; /* the whole file; empty when opened header-only */
    char **metadata;     /* key, value, ..., NULL; NULL when the header has none */
} st_file;

struct vlm_st_set {
    st_file *files;
    size_t nfiles, files_cap;
    vlm_st_tensor *tensors; /* files in order, each file's tensors in header order */
    size_t count, cap;
    const vlm_st_tensor **by_name; /* [count], sorted by name; built once all files are in */
};

/* ---------------------------------------------------------------- one file */

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The first 8 bytes give the header length n; the header is bytes [8, 8 + n). */
static vlm_status check_prefix(const char *path, uint64_t size, uint64_t n, vlm_error *err) {
    if (n > size - 8)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: header length %llu goes past the end of the file (%llu bytes)", path,
                       (unsigned long long)n, (unsigned long long)size);
    if (n > VLM_ST_MAX_HEADER_BYTES)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: header length %llu is more than the %u allowed",
                       path, (unsigned long long)n, VLM_ST_MAX_HEADER_BYTES);
    return VLM_OK;
}

static vlm_status check_size(const char *path, uint64_t size, vlm_error *err) {
    if (size < 8)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: file is %llu bytes, too short for the 8-byte header length", path,
                       (unsigned long long)size);
    return VLM_OK;
}

static vlm_status pread_exact(const char *path, int fd, void *buf, size_t len, uint64_t at,
                              vlm_error *err) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(at + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return vlm_err(err, VLM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0)
            return vlm_err(err, VLM_ERR_IO, "%s: file shrank while its header was read", path);
        got += (size_t)r;
    }
    return VLM_OK;
}

/* Header-only: reads the length prefix and the header into *text (free()), no mapping. */
static vlm_status read_header(const char *path, char **text, uint64_t *n_out, uint64_t *size_out,
                              vlm_error *err) {
    *text = NULL;
    int fd;
    uint64_t size;
    vlm_status s = vlm_file_open(path, &fd, &size, err);
    if (s != VLM_OK) return s;
    uint8_t prefix[8];
    uint64_t n = 0;
    s = check_size(path, size, err);
    if (s == VLM_OK) s = pread_exact(path, fd, prefix, 8, 0, err);
    if (s == VLM_OK) {
        n = read_le64(prefix);
        s = check_prefix(path, size, n, err);
    }
    if (s == VLM_OK) {
        *text = malloc(n ? (size_t)n : 1);
        if (!*text) s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: cannot allocate the header", path);
    }
    if (s == VLM_OK) s = pread_exact(path, fd, *text, (size_t)n, 8, err);
    close(fd);
    if (s != VLM_OK) {
        free(*text);
        *text = NULL;
        return s;
    }
    *n_out = n;
    *size_out = size;
    return VLM_OK;
}

static vlm_status set_add_file(vlm_st_set *set, const char *path, int flags, vlm_error *err) {
    if (set->nfiles == set->files_cap) {
        size_t cap = set->files_cap ? set->files_cap * 2 : 4;
        st_file *f = vlm_realloc_array(set->files, cap, sizeof *f);
        if (!f) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        set->files = f;
        set->files_cap = cap;
    }
    if (set->nfiles >= (size_t)INT32_MAX)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: too many files", path);
    st_file *f = &set->files[set->nfiles];
    memset(f, 0, sizeof *f);
    f->path = vlm_strdup(path);
    if (!f->path) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    set->nfiles++; /* from here on vlm_st_close frees what f holds */

    const char *text;
    char *owned = NULL;
    uint64_t n, size;
    vlm_status s;
    if (flags & VLM_ST_HEADER_ONLY) {
        s = read_header(path, &owned, &n, &size, err);
        if (s != VLM_OK) return s;
        text = owned;
    } else {
        s = vlm_file_map(path, &f->map, err);
        if (s != VLM_OK) return s;
        size = f->map.size;
        s = check_size(path, size, err);
        if (s != VLM_OK) return s;
        n = read_le64(f->map.data);
        s = check_prefix(path, size, n, err);
        if (s != VLM_OK) return s;
        text = (const char *)f->map.data + 8;
    }
    vlm_st_header h;
    s = vlm_st_header_parse(path, text, (size_t)n, 8 + n, size - 8 - n, &h, err);
    free(owned);
    if (s != VLM_OK) return s;

    size_t need;
    if (!vlm_size_add(set->count, h.count, &need)) need = SIZE_MAX;
    if (need > set->cap) {
        size_t cap = set->cap ? set->cap : 64;
        while (cap < need && cap <= SIZE_MAX / 2)
            cap *= 2;
        vlm_st_tensor *t = cap >= need ? vlm_realloc_array(set->tensors, cap, sizeof *t) : NULL;
        if (!t) {
            vlm_st_header_free(&h);
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        set->tensors = t;
        set->cap = cap;
    }
    for (size_t i = 0; i < h.count; i++) {
        vlm_st_tensor *t = &set->tensors[set->count++];
        *t = h.tensors[i]; /* the name moves to the set */
        t->file_index = (int)(set->nfiles - 1);
        t->data = f->map.data ? f->map.data + t->offset : NULL;
    }
    f->metadata = h.metadata;
    free(h.tensors);
    return VLM_OK;
}

/* ---------------------------------------------------------------- names */

static int by_name_cmp(const void *a, const void *b) {
    const vlm_st_tensor *x = *(const vlm_st_tensor *const *)a;
    const vlm_st_tensor *y = *(const vlm_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Sorts the names for lookup; a name in two files is an error (one file cannot repeat a
 * name: its header parser rejects duplicate keys). */
static vlm_status set_build_index(vlm_st_set *set, vlm_error *err) {
    set->by_name = vlm_malloc_array(set->count, sizeof *set->by_name);
    if (!set->by_name)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory indexing %zu tensors",
                       set->nfiles ? set->files[0].path : "safetensors", set->count);
    for (size_t i = 0; i < set->count; i++)
        set->by_name[i] = &set->tensors[i];
    qsort(set->by_name, set->count, sizeof *set->by_name, by_name_cmp);
    for (size_t i = 1; i < set->count; i++) {
        const vlm_st_tensor *a = set->by_name[i - 1], *b = set->by_name[i];
        if (strcmp(a->name, b->name) == 0) {
            if (a->file_index > b->file_index) {
                const vlm_st_tensor *t = a;
                a = b;
                b = t;
            }
            return vlm_err(err, VLM_ERR_FORMAT, "%s: tensor '" VLM_ST_NAME_IN_ERR "' is also in %s",
                           set->files[b->file_index].path, b->name, set->files[a->file_index].path);
        }
    }
    return VLM_OK;
}

/* ---------------------------------------------------------------- the shard index */

static int str_ptr_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A shard must be a relative path that stays inside the index's directory. */
static bool shard_name_ok(const char *s, size_t len) {
    if (len == 0 || strlen(s) != len || s[0] == '/') return false;
    for (const char *p = s; *p;) {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        if (seg == 2 && p[0] == '.' && p[1] == '.') return false;
        if (!slash) break;
        p = slash + 1;
    }
    return true;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return vlm_strdup(".");
    if (slash == path) return vlm_strdup("/");
    return vlm_strndup(path, (size_t)(slash - path));
}

/* Checks that every tensor of every shard is in the weight_map under that shard's name
 * and that the map names no tensor the shards lack. */
static vlm_status check_weight_map(const vlm_st_set *set, const char *path, const vlm_json *wm,
                                   const char *const *shards, vlm_error *err) {
    for (size_t i = 0; i < set->count; i++) {
        const vlm_st_tensor *t = &set->tensors[i];
        const char *shard = shards[t->file_index];
        const char *want = vlm_json_string(vlm_json_get(wm, t->name));
        if (!want)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: tensor '" VLM_ST_NAME_IN_ERR "' is not in the weight_map of %s",
                           set->files[t->file_index].path, t->name, path);
        if (strcmp(want, shard) != 0)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: weight_map puts tensor '" VLM_ST_NAME_IN_ERR
                           "' in '%.100s', but it is in '%.100s'",
                           path, t->name, want, shard);
    }
    /* Every shard tensor is in the map with its own shard and names are unique, so the map
     * holds more only if it names a tensor that no shard has. */
    if (vlm_json_object_size(wm) != set->count) {
        for (void *it = vlm_json_iter(wm); it; it = vlm_json_iter_next(wm, it)) {
            const char *name = vlm_json_iter_key(it);
            if (!vlm_st_find(set, name))
                return vlm_err(err, VLM_ERR_FORMAT,
                               "%s: weight_map puts tensor '" VLM_ST_NAME_IN_ERR
                               "' in '%.100s', which does not hold it",
                               path, name, vlm_json_string(vlm_json_iter_value(it)));
        }
        return vlm_err(err, VLM_ERR_INTERNAL, "%s: weight_map count mismatch", path);
    }
    return VLM_OK;
}

static vlm_status open_index(vlm_st_set *set, const char *path, int flags, vlm_error *err) {
    vlm_json *root = NULL;
    const char **shards = NULL;
    char *dir = NULL, *shard_path = NULL;
    vlm_status s =
        vlm_json_load_file(path, VLM_ST_MAX_INDEX_BYTES, VLM_JSON_REJECT_DUPLICATES, &root, err);
    if (s != VLM_OK) return s;
    const vlm_json *wm = vlm_json_get(root, "weight_map");
    if (!vlm_json_is_object(root)) {
        s = vlm_err(err, VLM_ERR_FORMAT, "%s: index is a JSON %s, not an object", path,
                    vlm_json_type_name(root));
        goto done;
    }
    if (!wm) {
        s = vlm_err(err, VLM_ERR_FORMAT, "%s: missing field 'weight_map'", path);
        goto done;
    }
    if (!vlm_json_is_object(wm)) {
        s = vlm_err(err, VLM_ERR_FORMAT, "%s: field 'weight_map' is a JSON %s, not an object", path,
                    vlm_json_type_name(wm));
        goto done;
    }
    size_t n = vlm_json_object_size(wm);
    if (n == 0) {
        s = vlm_err(err, VLM_ERR_FORMAT, "%s: field 'weight_map' is empty", path);
        goto done;
    }
    shards = vlm_malloc_array(n, sizeof *shards);
    dir = dir_of(path);
    if (!shards || !dir) {
        s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    size_t k = 0;
    for (void *it = vlm_json_iter(wm); it; it = vlm_json_iter_next(wm, it)) {
        const char *name = vlm_json_iter_key(it);
        const vlm_json *v = vlm_json_iter_value(it);
        const char *shard = vlm_json_string(v);
        if (strlen(name) != vlm_json_iter_key_len(it)) {
            s = vlm_err(err, VLM_ERR_FORMAT, "%s: weight_map: a tensor name holds a NUL byte",
                        path);
            goto done;
        }
        if (!shard) {
            s = vlm_err(err, VLM_ERR_FORMAT,
                        "%s: weight_map['" VLM_ST_NAME_IN_ERR "'] is a JSON %s, not a file name",
                        path, name, vlm_json_type_name(v));
            goto done;
        }
        if (!shard_name_ok(shard, vlm_json_string_len(v))) {
            s = vlm_err(err, VLM_ERR_FORMAT,
                        "%s: weight_map['" VLM_ST_NAME_IN_ERR
                        "'] = '%.100s' is not a file name inside the index's directory",
                        path, name, shard);
            goto done;
        }
        shards[k++] = shard;
    }
    qsort(shards, n, sizeof *shards, str_ptr_cmp);
    size_t u = 0; /* unique shard names, sorted: shards[file_index] names each file */
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(shards[u - 1], shards[i]) != 0) shards[u++] = shards[i];
    for (size_t i = 0; i < u; i++) {
        shard_path = vlm_path_join(dir, shards[i]);
        if (!shard_path) {
            s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            goto done;
        }
        /* shard errors name the shard; the prefix adds the index that named it */
        s = set_add_file(set, shard_path, flags, err);
        if (s != VLM_OK) {
            vlm_err_prefix(err, "%.250s", path);
            goto done;
        }
        free(shard_path);
        shard_path = NULL;
    }
    s = set_build_index(set, err);
    if (s != VLM_OK) vlm_err_prefix(err, "%.250s", path);
    if (s == VLM_OK) s = check_weight_map(set, path, wm, shards, err);
done:
    free(shard_path);
    free(shards);
    free(dir);
    vlm_json_free(root);
    return s;
}

/* ---------------------------------------------------------------- public */

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

vlm_status vlm_st_open(const char *path, int flags, vlm_st_set **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_st_open: out is NULL");
    *out = NULL;
    if (!path) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_st_open: path is NULL");
    if (flags & ~VLM_ST_HEADER_ONLY)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", path, flags);
    vlm_st_set *set = calloc(1, sizeof *set);
    if (!set) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    vlm_status s;
    if (ends_with(path, ".json")) {
        s = open_index(set, path, flags, err);
    } else {
        s = set_add_file(set, path, flags, err);
        if (s == VLM_OK) s = set_build_index(set, err);
    }
    if (s != VLM_OK) {
        vlm_st_close(set);
        return s;
    }
    *out = set;
    return vlm_err_ok(err);
}

static bool path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0; /* a dangling link counts: opening it then names it */
}

/* Every visible *.safetensors in dir, sorted by name (malloc'd array of malloc'd names). */
static vlm_status list_safetensors(const char *dir, char ***names_out, size_t *n_out,
                                   vlm_error *err) {
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return vlm_err(err, VLM_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    vlm_status s = VLM_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".safetensors")) continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 8;
            char **p = vlm_realloc_array(names, c, sizeof *p);
            if (!p) {
                s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
                break;
            }
            names = p;
            cap = c;
        }
        if (!(names[n] = vlm_strdup(e->d_name))) {
            s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (s != VLM_OK) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return s;
    }
    if (n) qsort(names, n, sizeof *names, str_ptr_cmp);
    *names_out = names;
    *n_out = n;
    return VLM_OK;
}

vlm_status vlm_st_open_dir(const char *dir, int flags, vlm_st_set **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_st_open_dir: out is NULL");
    *out = NULL;
    if (!dir) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_st_open_dir: dir is NULL");
    if (flags & ~VLM_ST_HEADER_ONLY)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", dir, flags);
    vlm_path_kind kind = vlm_path_kind_of(dir);
    if (kind == VLM_PATH_MISSING)
        return vlm_err(err, VLM_ERR_NOT_FOUND, "%s: no such directory", dir);
    if (kind != VLM_PATH_DIR) return vlm_err(err, VLM_ERR_IO, "%s: is not a directory", dir);

    static const char *const single[] = {"model.safetensors.index.json", "model.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        char *p = vlm_path_join(dir, single[i]);
        if (!p) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        if (path_exists(p)) {
            vlm_status s = vlm_st_open(p, flags, out, err);
            free(p);
            return s;
        }
        free(p);
    }

    char **names;
    size_t n;
    vlm_status s = list_safetensors(dir, &names, &n, err);
    if (s != VLM_OK) return s;
    if (n == 0) {
        free(names);
        return vlm_err(err, VLM_ERR_NOT_FOUND,
                       "%s: no weights: no model.safetensors.index.json, model.safetensors or "
                       "other *.safetensors file",
                       dir);
    }
    vlm_st_set *set = calloc(1, sizeof *set);
    if (!set) s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    for (size_t i = 0; s == VLM_OK && i < n; i++) {
        char *p = vlm_path_join(dir, names[i]);
        s = p ? set_add_file(set, p, flags, err)
              : vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        free(p);
    }
    if (s == VLM_OK) s = set_build_index(set, err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (s != VLM_OK) {
        vlm_st_close(set);
        return s;
    }
    *out = set;
    return vlm_err_ok(err);
}

void vlm_st_close(vlm_st_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->nfiles; i++) {
        st_file *f = &set->files[i];
        free(f->path);
        vlm_file_unmap(&f->map);
        if (f->metadata) {
            for (char **p = f->metadata; *p; p++)
                free(*p);
            free(f->metadata);
        }
    }
    for (size_t i = 0; i < set->count; i++)
        free((char *)set->tensors[i].name);
    free(set->files);
    free(set->tensors);
    free(set->by_name);
    free(set);
}

size_t vlm_st_count(const vlm_st_set *set) {
    return set ? set->count : 0;
}

const vlm_st_tensor *vlm_st_at(const vlm_st_set *set, size_t i) {
    return (set && i < set->count) ? &set->tensors[i] : NULL;
}

static int find_cmp(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const vlm_st_tensor *const *)elem)->name);
}

const vlm_st_tensor *vlm_st_find(const vlm_st_set *set, const char *name) {
    if (!set || !name || !set->by_name) return NULL;
    const vlm_st_tensor *const *hit =
        bsearch(name, set->by_name, set->count, sizeof *set->by_name, find_cmp);
    return hit ? *hit : NULL;
}

size_t vlm_st_file_count(const vlm_st_set *set) {
    return set ? set->nfiles : 0;
}

const char *vlm_st_file_path(const vlm_st_set *set, size_t i) {
    return (set && i < set->nfiles) ? set->files[i].path : NULL;
}

const char *const *vlm_st_metadata(const vlm_st_set *set, size_t file_index) {
    if (!set || file_index >= set->nfiles) return NULL;
    return (const char *const *)set->files[file_index].metadata;
}
