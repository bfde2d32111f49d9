/* Video decoding against FFmpeg's own tools, on the committed fixtures (H.264 in MP4 and
 * MKV, VP9 in WebM and MKV, odd frame size, full-range BT.709):
 *   - every frame, and the frames of a sampled decode that seeks, equal bit-for-bit what
 *     `ffmpeg -fps_mode passthrough -sws_flags bilinear -pix_fmt rgb24 -f rawvideo` writes
 *     (the same libswscale conversion; tolerance 0);
 *   - the frame count, start, duration and per-frame timestamps equal what ffprobe's packet
 *     and frame tables say (tolerance 1e-9 s);
 *   - decoding from memory gives the same bytes as decoding the file.
 * SKIPs when the ffmpeg/ffprobe tools are absent. */
#include <libavutil/log.h>
#include <math.h>

#include "media/video.h"
#include "video_test_util.h"

typedef struct fixture {
    const char *name;
    int width, height;
} fixture;

static const fixture fixtures[] = {
    {"testsrc_h264.mp4", 64, 48},       {"testsrc2_vp9.webm", 64, 48},
    {"testsrc_h264_audio.mkv", 80, 60}, {"testsrc_h264_long.mp4", 64, 48},
    {"bt709_full_h264.mp4", 96, 64},    {"odd_vp9.mkv", 63, 47},
};

/* All frames as the ffmpeg CLI converts them. */
static uint8_t *cli_frames(const char *path, size_t *len) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -hide_banner -loglevel error -threads 1 -i '%s' -map 0:v:0 "
             "-fps_mode passthrough -sws_flags bilinear -pix_fmt rgb24 -f rawvideo -",
             path);
    return (uint8_t *)run_capture(cmd, len);
}

/* ffprobe's table of the stream's packets: count, min pts, max pts + duration (stream time
 * base units) and the time base, as the scan must see them. */
typedef struct packet_table {
    long long count, begin, end, tb_num, tb_den;
} packet_table;

static int probe_packets(const char *path, packet_table *t) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -select_streams v:0 -show_entries stream=time_base -show_entries "
             "packet=pts,dts,duration,flags -of csv=p=0 '%s'",
             path);
    char *out = run_capture(cmd, NULL);
    if (!out) return -1;
    memset(t, 0, sizeof *t);
    t->begin = INT64_MAX;
    t->end = INT64_MIN;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        long long a, b;
        if (sscanf(line, "%lld/%lld", &a, &b) == 2 && !strchr(line, ',')) {
            t->tb_num = a;
            t->tb_den = b;
            continue;
        }
        /* pts,dts,duration,flags */
        char pts[64] = {0}, dts[64] = {0}, dur[64] = {0}, flags[64] = {0};
        if (sscanf(line, "%63[^,],%63[^,],%63[^,],%63s", pts, dts, dur, flags) < 3) continue;
        if (strchr(flags, 'D')) continue; /* discarded */
        long long p = strcmp(pts, "N/A") ? atoll(pts) : atoll(dts);
        long long d = strcmp(dur, "N/A") ? atoll(dur) : 0;
        t->count++;
        if (p < t->begin) t->begin = p;
        if (p + d > t->end) t->end = p + d;
    }
    free(out);
    return t->count > 0 && t->tb_den > 0 ? 0 : -1;
}

/* Presentation times (seconds) of the frames ffprobe decodes, in output order. */
static double *probe_frame_times(const char *path, long long *n) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time "
             "-of csv=p=0 '%s'",
             path);
    char *out = run_capture(cmd, NULL);
    if (!out) return NULL;
    size_t cap = 64;
    double *t = malloc(cap * sizeof *t);
    *n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if ((size_t)*n == cap) t = realloc(t, (cap *= 2) * sizeof *t);
        t[(*n)++] = atof(line);
    }
    free(out);
    return t;
}

static void check_fixture(const fixture *fx) {
    const char *path = video_fixture(fx->name);
    char pathbuf[4096];
    snprintf(pathbuf, sizeof pathbuf, "%s", path);
    size_t ref_len = 0;
    uint8_t *ref = cli_frames(pathbuf, &ref_len);
    CHECK_MSG(ref != NULL, "ffmpeg failed on %s", fx->name);
    if (!ref) return;
    size_t fbytes = (size_t)fx->width * fx->height * 3;
    long long ref_frames = (long long)(ref_len / fbytes);
    CHECK_EQ_INT(ref_len % fbytes, 0);

    /* Every frame. */
    vlm_video_params p = vlm_video_params_default();
    p.sampling.mode = VLM_VIDEO_SAMPLE_ALL;
    p.threads = 1;
    vlm_video v;
    vlm_error err = {0};
    vlm_status s = vlm_video_decode_file(pathbuf, &p, &v, &err);
    CHECK_MSG(s == VLM_OK, "%s: %s", fx->name, err.message);
    if (s == VLM_OK) {
        CHECK_EQ_INT(v.width, fx->width);
        CHECK_EQ_INT(v.height, fx->height);
        CHECK_EQ_INT(v.n_frames, ref_frames);
        CHECK_EQ_INT(v.info.total_frames, ref_frames);
        if (v.n_frames == ref_frames) {
            long long bad = -1, maxdiff = 0;
            for (size_t i = 0; i < ref_len; i++) {
                int dlt = abs((int)v.rgb[i] - (int)ref[i]);
                if (dlt && bad < 0) bad = (long long)(i / fbytes);
                if (dlt > maxdiff) maxdiff = dlt;
            }
            CHECK_MSG(bad < 0, "%s: frame %lld differs from ffmpeg's (max |diff| %lld)", fx->name,
                      bad, maxdiff);
        }
        for (int64_t i = 0; i < v.n_frames; i++)
            CHECK_EQ_INT(v.indices[i], i);

        packet_table t = {0};
        CHECK(probe_packets(pathbuf, &t) == 0);
        CHECK_EQ_INT(v.info.total_frames, t.count);
        double tb = (double)t.tb_num / (double)t.tb_den;
        CHECK_MSG(fabs(v.info.start_s - (double)t.begin * tb) < 1e-9, "%s: start %.9f vs %.9f",
                  fx->name, v.info.start_s, (double)t.begin * tb);
        double dur = (double)(t.end - t.begin) * tb;
        CHECK_MSG(fabs(v.info.duration_s - dur) < 1e-9, "%s: duration %.9f vs %.9f", fx->name,
                  v.info.duration_s, dur);
        CHECK_MSG(fabs(v.info.fps - (double)t.count / dur) < 1e-9, "%s: fps %.9f", fx->name,
                  v.info.fps);

        long long nt = 0;
        double *times = probe_frame_times(pathbuf, &nt);
        CHECK(times != NULL && nt == v.n_frames);
        if (times && nt == v.n_frames)
            for (int64_t i = 0; i < v.n_frames; i++)
                CHECK_MSG(fabs(v.timestamps_s[i] - times[i]) < 1e-6,
                          "%s: frame %lld at %.6f vs %.6f", fx->name, (long long)i,
                          v.timestamps_s[i], times[i]);
        free(times);

        /* The same bytes from memory. */
        size_t flen = 0;
        uint8_t *file = slurp(pathbuf, &flen);
        vlm_video m;
        s = vlm_video_decode_memory(file, flen, fx->name, &p, &m, &err);
        CHECK_MSG(s == VLM_OK, "%s from memory: %s", fx->name, err.message);
        if (s == VLM_OK) {
            CHECK_EQ_INT(m.n_frames, v.n_frames);
            CHECK(m.n_frames == v.n_frames &&
                  memcmp(m.rgb, v.rgb, (size_t)m.n_frames * fbytes) == 0);
            vlm_video_free(&m);
        }
        free(file);
        vlm_video_free(&v);
    }

    /* A sampled decode (seeks on the long file): each returned frame is the CLI's frame at
     * its index. Both thread settings. */
    for (int threads = 0; threads <= 1; threads++) {
        p.sampling.mode = VLM_VIDEO_SAMPLE_COUNT;
        p.sampling.num_frames = 6;
        p.threads = threads;
        s = vlm_video_decode_file(pathbuf, &p, &v, &err);
        CHECK_MSG(s == VLM_OK, "%s sampled: %s", fx->name, err.message);
        if (s != VLM_OK) continue;
        CHECK_EQ_INT(v.n_frames, 6);
        if (!strcmp(fx->name, "testsrc_h264_long.mp4")) {
            /* Indices 0, 60, ..., 300 sit on key frames (GOP 30): each is reached by a seek and
             * a few frames of decoder delay, not by decoding the 360 frames. */
            CHECK_EQ_INT(v.seeks, 5);
            CHECK_MSG(v.frames_decoded <= 6 * 8, "decoded %lld frames",
                      (long long)v.frames_decoded);
        }
        for (int64_t k = 0; k < v.n_frames; k++) {
            int64_t i = v.indices[k];
            CHECK(i >= 0 && i < ref_frames);
            if (i < 0 || i >= ref_frames) continue;
            CHECK_MSG(memcmp(v.rgb + (size_t)k * fbytes, ref + (size_t)i * fbytes, fbytes) == 0,
                      "%s: sampled frame %lld (index %lld, threads %d) differs from ffmpeg's",
                      fx->name, (long long)k, (long long)i, threads);
        }
        vlm_video_free(&v);
    }
    free(ref);
}

int main(void) {
    av_log_set_level(AV_LOG_QUIET);
    if (!have_tool("ffmpeg") || !have_tool("ffprobe")) SKIP("ffmpeg/ffprobe not installed");
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
        check_fixture(&fixtures[i]);

    /* The long file sampled at 2 fps the Qwen2-VL way: 12 s at 30 fps -> 24 frames, index
     * arange(0, 360, 15); probe agrees with decode on the facts. */
    vlm_video_params p = vlm_video_params_default();
    vlm_video v;
    vlm_error err = {0};
    vlm_status s = vlm_video_decode_file(video_fixture("testsrc_h264_long.mp4"), &p, &v, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    if (s == VLM_OK) {
        CHECK_EQ_INT(v.n_frames, 24);
        for (int64_t k = 0; k < v.n_frames; k++)
            CHECK_EQ_INT(v.indices[k], 15 * k);
        CHECK(fabs(vlm_video_sampled_fps(&v) - 2.0) < 1e-12);
        vlm_video_info info;
        s = vlm_video_probe_file(video_fixture("testsrc_h264_long.mp4"), &p, &info, &err);
        CHECK(s == VLM_OK);
        CHECK_EQ_INT(info.total_frames, 360);
        CHECK_EQ_INT(info.header_frames, 360);
        CHECK(info.fps == v.info.fps && info.duration_s == v.info.duration_s);
        CHECK_STR(info.codec, "h264");
        vlm_video_free(&v);
    }

    /* torch.arange's overshoot: 13 of 15 frames (temporal patch 1) gives 14 indices, the
     * last one (15) past the end; it is skipped as transformers' PyAV loader skips it, and
     * sampled_fps counts it as transformers' metadata does. */
    p = vlm_video_params_default();
    p.sampling.mode = VLM_VIDEO_SAMPLE_COUNT;
    p.sampling.num_frames = 13;
    p.sampling.temporal_patch_size = 1;
    s = vlm_video_decode_file(video_fixture("odd_vp9.mkv"), &p, &v, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    if (s == VLM_OK) {
        CHECK_EQ_INT(v.n_sampled, 14);
        CHECK_EQ_INT(v.n_frames, 13);
        CHECK_EQ_INT(v.indices[12], 13);
        CHECK(fabs(vlm_video_sampled_fps(&v) - 14.0 / 15.0 * v.info.fps) < 1e-12);
        vlm_video_free(&v);
    }
    TEST_DONE();
}
