/* Hostile and broken video input: every case must end in a clear error (or, for damage a
 * decoder conceals, a normal result) — never a crash, a hang or a leak (run under ASan).
 * Cases: missing file, directory, FIFO, empty file, garbage named .mp4, an HLS playlist, a
 * file whose name looks like an FFmpeg URL, audio without video, MP4s cut at every 97th byte
 * (index first and index last), MKV/WebM cuts, flipped bytes, and each limit. */
#include <errno.h>
#include <stdbool.h>
#include <libavutil/log.h>
#include <sys/stat.h>

#include "media/video.h"
#include "video_test_util.h"

static vlm_status decode_path(const char *path, const vlm_video_params *p, vlm_video *v,
                              vlm_error *err) {
    memset(err, 0, sizeof *err);
    return vlm_video_decode_file(path, p, v, err);
}

/* Decodes and expects `want` with a message containing `needle` (NULL: any). */
static void expect_fail(const char *path, const vlm_video_params *p, vlm_status want,
                        const char *needle) {
    vlm_video v;
    vlm_error err;
    vlm_status s = decode_path(path, p, &v, &err);
    CHECK_MSG(s == want, "%s: status %d, wanted %d (%s)", path, (int)s, (int)want, err.message);
    if (needle) CHECK_CONTAINS(err.message, needle);
    CHECK(v.rgb == NULL && v.n_frames == 0); /* zeroed on failure */
    if (s == VLM_OK) vlm_video_free(&v);
}

static vlm_video_params all_frames(void) {
    vlm_video_params p = vlm_video_params_default();
    p.sampling.mode = VLM_VIDEO_SAMPLE_ALL;
    p.threads = 1;
    return p;
}

static void check_limits(void) {
    const char *longf = video_fixture("testsrc_h264_long.mp4");
    char path[4096];
    snprintf(path, sizeof path, "%s", longf);
    vlm_video_params p = all_frames();
    p.limits.max_frames = 100; /* 360 would be returned */
    expect_fail(path, &p, VLM_ERR_LIMIT, "more than the limit of 100");
    p = all_frames();
    p.limits.max_pixels = 1000; /* 64x48 = 3072 */
    expect_fail(path, &p, VLM_ERR_LIMIT, "64x48");
    p = all_frames();
    p.limits.max_dimension = 32;
    expect_fail(path, &p, VLM_ERR_LIMIT, "64x48");
    p = all_frames();
    p.limits.max_stream_frames = 100;
    expect_fail(path, &p, VLM_ERR_LIMIT, "more than 100 frames");
    p = all_frames();
    p.limits.max_frames = 1000;
    p.limits.max_decoded_frames = 10;
    expect_fail(path, &p, VLM_ERR_LIMIT, "decoded more than 10 frames");
    p = all_frames();
    p.limits.max_duration_s = 1.0; /* 12 s */
    expect_fail(path, &p, VLM_ERR_LIMIT, "lasts 12.0 s");
    p = all_frames();
    p.limits.max_frames = 1000;
    p.limits.max_output_bytes = 100000; /* 360 * 9216 */
    expect_fail(path, &p, VLM_ERR_LIMIT, "output limit");
    p = all_frames();
    p.limits.max_read_bytes = 1000; /* the file is 20 kB */
    expect_fail(path, &p, VLM_ERR_LIMIT, "read budget");
    p = all_frames();
    p.limits.deadline_s = 1e-9;
    expect_fail(path, &p, VLM_ERR_LIMIT, "deadline");

    /* Sampling that transformers refuses. */
    p = vlm_video_params_default();
    p.sampling.mode = VLM_VIDEO_SAMPLE_COUNT;
    p.sampling.num_frames = 1000; /* 20 frames in the file */
    expect_fail(video_fixture("testsrc_h264.mp4"), &p, VLM_ERR_INVALID_ARGUMENT, "exceeds");
}

/* Cuts `name` at every `step`-th byte; MP4 cuts must fail, others must not crash. */
static void check_cuts(const char *dir, const char *name, int step, bool must_fail) {
    size_t len = 0;
    uint8_t *data = slurp(video_fixture(name), &len);
    CHECK(data != NULL);
    if (!data) return;
    vlm_video_params p = all_frames();
    char path[4200];
    snprintf(path, sizeof path, "%s/cut_%s", dir, name);
    int ok_count = 0;
    for (size_t cut = 0; cut < len; cut += (size_t)step) {
        CHECK(write_file(path, data, cut) == 0);
        vlm_video v;
        vlm_error err;
        vlm_status s = decode_path(path, &p, &v, &err);
        if (s == VLM_OK) {
            ok_count++;
            CHECK_MSG(!must_fail, "%s cut at %zu of %zu decoded without error (%lld frames)", name,
                      cut, len, (long long)v.n_frames);
            CHECK(v.n_frames > 0 && v.rgb != NULL);
            vlm_video_free(&v);
        } else {
            CHECK_MSG(err.message[0] != '\0', "%s cut at %zu: empty message", name, cut);
            CHECK_MSG(s == VLM_ERR_FORMAT || s == VLM_ERR_UNSUPPORTED,
                      "%s cut at %zu: status %d (%s)", name, cut, (int)s, err.message);
        }
        /* The same bytes from memory behave the same. */
        vlm_video m;
        vlm_status sm = vlm_video_decode_memory(data, cut, name, &p, &m, &err);
        CHECK_MSG(sm == s, "%s cut at %zu: memory %d vs file %d", name, cut, (int)sm, (int)s);
        if (sm == VLM_OK) vlm_video_free(&m);
    }
    if (must_fail) CHECK_EQ_INT(ok_count, 0);
    unlink(path);
    free(data);
}

/* Overwrites 48 bytes at several places with garbage: decoders conceal or fail, never crash. */
static void check_corruption(const char *dir, const char *name) {
    size_t len = 0;
    uint8_t *data = slurp(video_fixture(name), &len);
    if (!data) return;
    vlm_video_params p = all_frames();
    uint32_t rng = 12345;
    for (int trial = 0; trial < 24; trial++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        size_t at = (len * (size_t)(trial + 1)) / 26;
        for (size_t i = at; i < at + 48 && i < len; i++) {
            rng = rng * 1664525u + 1013904223u;
            copy[i] ^= (uint8_t)(rng >> 24) | 1;
        }
        vlm_video v;
        vlm_error err = {0};
        vlm_status s = vlm_video_decode_memory(copy, len, name, &p, &v, &err);
        if (s == VLM_OK) {
            CHECK(v.n_frames > 0 && v.rgb != NULL);
            vlm_video_free(&v);
        } else {
            CHECK_MSG(err.message[0] != '\0', "%s corrupted at %zu: empty message", name, at);
        }
        free(copy);
    }
    (void)dir;
    free(data);
}

int main(void) {
    av_log_set_level(AV_LOG_QUIET);
    char *dir = make_temp_dir();
    CHECK(dir != NULL);
    if (!dir) TEST_DONE();
    char path[4200];
    vlm_video_params p = vlm_video_params_default();

    /* Paths that are not video files. */
    snprintf(path, sizeof path, "%s/missing.mp4", dir);
    expect_fail(path, &p, VLM_ERR_NOT_FOUND, "no such file");
    expect_fail(dir, &p, VLM_ERR_IO, "is a directory");
    snprintf(path, sizeof path, "%s/fifo.mp4", dir);
    CHECK(mkfifo(path, 0600) == 0);
    expect_fail(path, &p, VLM_ERR_IO, "is a FIFO"); /* must not block waiting for a writer */
    snprintf(path, sizeof path, "%s/empty.mp4", dir);
    CHECK(write_file(path, "", 0) == 0);
    expect_fail(path, &p, VLM_ERR_FORMAT, "empty");

    uint8_t junk[8192];
    uint32_t rng = 7;
    for (size_t i = 0; i < sizeof junk; i++) {
        rng = rng * 1103515245u + 12345u;
        junk[i] = (uint8_t)(rng >> 16);
    }
    snprintf(path, sizeof path, "%s/garbage.mp4", dir);
    CHECK(write_file(path, junk, sizeof junk) == 0);
    expect_fail(path, &p, VLM_ERR_FORMAT, "not a video");

    /* An HLS playlist pointing at a real clip: the hls demuxer is not allowed. */
    snprintf(path, sizeof path, "%s/list.m3u8", dir);
    char playlist[8192];
    snprintf(playlist, sizeof playlist,
             "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n%s\n#EXT-X-ENDLIST\n",
             video_fixture("testsrc_h264.mp4"));
    CHECK(write_file(path, playlist, strlen(playlist)) == 0);
    expect_fail(path, &p, VLM_ERR_FORMAT, "not a video");

    /* A file whose name is an FFmpeg URL is just a file. */
    size_t clip_len = 0;
    uint8_t *clip = slurp(video_fixture("testsrc_h264.mp4"), &clip_len);
    CHECK(clip != NULL);
    snprintf(path, sizeof path, "%s/concat:clip.mp4", dir);
    CHECK(clip && write_file(path, clip, clip_len) == 0);
    vlm_video v;
    vlm_error err;
    CHECK_MSG(decode_path(path, &p, &v, &err) == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(v.n_frames, 4);
    vlm_video_free(&v);
    free(clip);

    expect_fail(video_fixture("audio_only.mkv"), &p, VLM_ERR_FORMAT, "no video stream");

    /* Argument checks. */
    CHECK(vlm_video_decode_file(NULL, &p, &v, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_video_decode_file(video_fixture("testsrc_h264.mp4"), &p, NULL, &err) ==
          VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_video_decode_memory(NULL, 10, "x", &p, &v, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_video_decode_memory(NULL, 0, "x", &p, &v, &err) == VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "empty");
    vlm_video_free(NULL);

    check_limits();
    check_cuts(dir, "testsrc_h264.mp4", 97, true);
    check_cuts(dir, "testsrc_h264_faststart.mp4", 97, true);
    check_cuts(dir, "testsrc2_vp9.webm", 61, false);
    check_cuts(dir, "odd_vp9.mkv", 61, false);
    check_corruption(dir, "testsrc_h264.mp4");
    check_corruption(dir, "testsrc_h264_faststart.mp4");
    check_corruption(dir, "testsrc2_vp9.webm");
    check_corruption(dir, "testsrc_h264_audio.mkv");

    rm_rf(dir);
    free(dir);
    TEST_DONE();
}
