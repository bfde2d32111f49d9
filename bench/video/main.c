/* bench_video: time vlm_video_decode_file on a video, every frame vs Qwen2-VL's 2 fps
 * sampling (seeking to key frames) vs a fixed count, single- and multi-threaded decoder.
 *   bench_video VIDEO [repeats]
 * Prints the median wall time of each configuration, the frames decoded and the seeks. */
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "media/video.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *path, const char *label, vlm_video_params p, int repeats) {
    double t[32];
    vlm_video v = {0};
    for (int r = 0; r < repeats; r++) {
        vlm_error err = {0};
        double t0 = now();
        vlm_status s = vlm_video_decode_file(path, &p, &v, &err);
        t[r] = now() - t0;
        if (s != VLM_OK) {
            printf("%-28s error: %s\n", label, err.message);
            return;
        }
        if (r + 1 < repeats) vlm_video_free(&v);
    }
    qsort(t, (size_t)repeats, sizeof t[0], cmp_double);
    printf("%-28s %8.1f ms  frames %4lld of %lld  decoded %5lld  seeks %3lld  (%dx%d)\n", label,
           t[repeats / 2] * 1e3, (long long)v.n_frames, (long long)v.info.total_frames,
           (long long)v.frames_decoded, (long long)v.seeks, v.width, v.height);
    vlm_video_free(&v);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_video VIDEO [repeats]\n");
        return 2;
    }
    av_log_set_level(AV_LOG_QUIET);
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (repeats < 1 || repeats > 32) repeats = 3;
    for (int threads = 1; threads >= 0; threads--) {
        vlm_video_params p = vlm_video_params_default();
        p.threads = threads;
        p.limits.max_frames = 100000;
        p.limits.max_output_bytes = (uint64_t)64 << 30;
        char label[64];
        p.sampling.mode = VLM_VIDEO_SAMPLE_ALL;
        snprintf(label, sizeof label, "all frames, threads %s", threads ? "1" : "auto");
        run(argv[1], label, p, repeats);
        p.sampling = vlm_video_sampling_default();
        snprintf(label, sizeof label, "fps 2, threads %s", threads ? "1" : "auto");
        run(argv[1], label, p, repeats);
        p.sampling.mode = VLM_VIDEO_SAMPLE_COUNT;
        p.sampling.num_frames = 8;
        snprintf(label, sizeof label, "8 frames, threads %s", threads ? "1" : "auto");
        run(argv[1], label, p, repeats);
    }
    vlm_video_params p = vlm_video_params_default();
    vlm_video_info info;
    vlm_error err = {0};
    double t0 = now();
    if (vlm_video_probe_file(argv[1], &p, &info, &err) == VLM_OK)
        printf("%-28s %8.1f ms  (%lld frames, %.3f fps, %.3f s)\n", "probe (scan only)",
               (now() - t0) * 1e3, (long long)info.total_frames, info.fps, info.duration_s);
    return 0;
}
