#!/usr/bin/python3
"""Makes the image-decoding fixtures: small files under tests/fixtures/media/decode/ and
tests/fixtures/media/decode_refs.json with what Pillow gives for each of them after
ImageOps.exif_transpose(Image.open(f)).convert("RGB") (transformers' load_image), stored as
size + CRC-32 of the RGB bytes + sampled pixels. For truncated copies (cut at a few
lengths, done in the test from the same files) it records whether Pillow fails or what it
decodes. tests/test_image_decode.c replays everything.

Files come from Pillow's encoders (JPEG baseline/progressive/4:2:0/4:2:2/4:4:4/gray/CMYK,
PNG, WebP lossy/lossless/alpha, GIF, BMP), from ffmpeg's MJPEG encoder when ffmpeg is
installed, and from small writers below for layouts Pillow does not write (PNG 1/2/4/16-bit
and Adam7, BMP 16/32-bit, bitfields, RLE, top-down, OS/2; GIF frames smaller than the
screen). EXIF orientations 1-8 are written into JPEG, PNG (eXIf) and WebP files, plus
big-endian EXIF and XMP-only orientation.

    /usr/bin/python3 tools/refgen/make_media_fixtures.py
"""
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps, PngImagePlugin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from media_common import crc32_hex  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIR = os.path.join(ROOT, "tests", "fixtures", "media", "decode")
REFS = os.path.join(ROOT, "tests", "fixtures", "media", "decode_refs.json")


# ------------------------------------------------------------------ source pictures

def picture(w, h, seed=1):
    """A smooth, photo-like RGB picture (gradients, discs, a little noise) that compresses
    well and has edges and saturated colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / (w / 3.1) + seed)
    g = 128 + 100 * np.cos(y / (h / 2.3) - seed)
    b = 255 * (x + y) / (w + h)
    img = np.stack([r, g, b], -1)
    for _ in range(5):
        cx, cy, rad = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, min(w, h) / 3)
        col = rng.uniform(0, 255, 3)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < rad ** 2
        img[mask] = col
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def asym(w, h):
    """An asymmetric picture so every orientation is distinguishable."""
    a = picture(w, h, 3)
    a[: h // 4, : w // 5] = [255, 0, 0]
    a[-h // 6:, -w // 3:] = [0, 0, 255]
    return a


# ------------------------------------------------------------------ writers

def png_chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def adam7_passes(w, h):
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):
        xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
        if xs and ys:
            yield xs, ys


def pack_row(samples, depth):
    """samples: 1-d int array of one row's samples -> bytes at the bit depth."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    out = bytearray((len(samples) * depth + 7) // 8)
    for i, v in enumerate(samples):
        out[i // per] |= int(v) << (8 - depth * (i % per + 1))
    return bytes(out)


def write_png(path, arr, color_type, depth, palette=None, trns=None, interlace=False, extra=()):
    """arr: [h, w, channels] samples. Filter type 0 on every row (libpng and Pillow must
    both undo filters correctly anyway; Pillow's own writer covers the other filters)."""
    h, w = arr.shape[:2]
    ch = arr.shape[2]
    raw = bytearray()
    if interlace:
        for xs, ys in adam7_passes(w, h):
            for yy in ys:
                raw += b"\0" + pack_row(arr[yy][xs].reshape(-1), depth)
    else:
        for yy in range(h):
            raw += b"\0" + pack_row(arr[yy].reshape(-1), depth)
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    for t, data in extra:
        out += png_chunk(t, data)
    out += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    out += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)
    assert ch  # silence


def bmp_file(w, h, bits, pixel_rows, header=40, compression=0, palette=None, masks=None,
             top_down=False, colors=None, raw_pixels=None):
    """A BMP with the given rows (already packed, bottom row first unless top_down)."""
    pal = b""
    if palette is not None:
        pal = b"".join(bytes([c[2], c[1], c[0]]) + (b"\0" if header != 12 else b"")
                       for c in palette)
    if header == 12:
        hdr = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        hh = -h if top_down else h
        body = struct.pack("<iiHHIIiiII", w, hh, 1, bits, compression, 0, 2835, 2835,
                           colors if colors is not None else (len(palette) if palette else 0), 0)
        if header >= 52:
            m = list(masks or (0, 0, 0)) + [0] * 4
            body += struct.pack("<III", *m[:3])
            if header >= 56:
                body += struct.pack("<I", m[3])
        body += b"\0" * (header - 4 - len(body))
        hdr = struct.pack("<I", header) + body
    extra_masks = b""
    if header == 40 and compression == 3 and masks:
        extra_masks = struct.pack("<III", *masks[:3])
    pix = raw_pixels if raw_pixels is not None else b"".join(pixel_rows)
    off = 14 + len(hdr) + len(extra_masks) + len(pal)
    size = off + len(pix)
    return b"BM" + struct.pack("<IHHI", size, 0, 0, off) + hdr + extra_masks + pal + pix


def pad4(b):
    return b + b"\0" * ((-len(b)) % 4)


def rle8_rows(idx):
    """Encoded runs per row (bottom row first), absolute runs for varied stretches."""
    out = bytearray()
    for row in idx[::-1]:
        x = 0
        n = len(row)
        while x < n:
            run = 1
            while x + run < n and run < 255 and row[x + run] == row[x]:
                run += 1
            if run >= 3 or n - x < 3:
                out += bytes([run, row[x]])
                x += run
            else:
                k = 3
                while x + k < n and k < 255 and not (x + k + 2 < n and row[x + k] == row[x + k + 1] == row[x + k + 2]):
                    k += 1
                out += bytes([0, k]) + bytes(row[x:x + k]) + (b"\0" if k % 2 else b"")
                x += k
        out += b"\0\0"
    out += b"\0\1"
    return bytes(out)


def rle4_rows(idx):
    out = bytearray()
    for row in idx[::-1]:
        x, n = 0, len(row)
        while x < n:
            run = min(255, n - x)
            # encoded mode alternates two colours: use pairs from the row
            a = row[x]
            b = row[x + 1] if x + 1 < n else a
            k = 1
            while x + k < n and k < run and row[x + k] == (a if k % 2 == 0 else b):
                k += 1
            out += bytes([k, (a << 4) | b])
            x += k
        out += b"\0\0"
    out += b"\0\1"
    return bytes(out)


def exif_bytes(orientation, big_endian=False):
    """A minimal TIFF block with IFD0 holding Orientation."""
    if big_endian:
        return b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + \
            struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


XMP = ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="{o}"/></rdf:RDF>'
       '</x:xmpmeta><?xpacket end="w"?>')


# ------------------------------------------------------------------ the fixture set

def build(files):
    """files: dict name -> bytes; returns notes per file."""
    notes = {}
    pic = picture(97, 67)
    rgb = Image.fromarray(pic, "RGB")

    def save(name, im, **kw):
        b = io.BytesIO()
        im.save(b, **kw)
        files[name] = b.getvalue()

    # JPEG
    save("jpeg_baseline_420.jpg", rgb, format="JPEG", quality=90, subsampling=2)
    save("jpeg_422.jpg", rgb, format="JPEG", quality=90, subsampling=1)
    save("jpeg_444.jpg", rgb, format="JPEG", quality=95, subsampling=0)
    save("jpeg_progressive.jpg", rgb, format="JPEG", quality=85, progressive=True)
    save("jpeg_progressive_444.jpg", rgb, format="JPEG", quality=85, progressive=True, subsampling=0)
    save("jpeg_optimized.jpg", rgb, format="JPEG", quality=75, optimize=True)
    save("jpeg_gray.jpg", rgb.convert("L"), format="JPEG", quality=90)
    save("jpeg_cmyk.jpg", rgb.convert("CMYK"), format="JPEG", quality=90)
    save("jpeg_tiny_1x1.jpg", Image.new("RGB", (1, 1), (200, 30, 90)), format="JPEG")
    save("jpeg_odd_33x17.jpg", Image.fromarray(picture(33, 17, 5)), format="JPEG", quality=92)
    for o in range(1, 9):
        save(f"jpeg_exif_orient{o}.jpg", Image.fromarray(asym(40, 24)), format="JPEG",
             quality=92, exif=exif_bytes(o))
    save("jpeg_exif_orient6_be.jpg", Image.fromarray(asym(40, 24)), format="JPEG", quality=92,
         exif=b"Exif\0\0" + exif_bytes(6, True))
    if shutil.which("ffmpeg"):
        with tempfile.TemporaryDirectory() as td:
            src = os.path.join(td, "in.png")
            rgb.save(src)
            for name, fmt in (("jpeg_ffmpeg_420.jpg", "yuvj420p"), ("jpeg_ffmpeg_422.jpg", "yuvj422p"),
                              ("jpeg_ffmpeg_444.jpg", "yuvj444p")):
                dst = os.path.join(td, name)
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", src, "-pix_fmt", fmt,
                                "-q:v", "3", dst], check=True)
                files[name] = open(dst, "rb").read()
    # corrupt entropy data (not truncated): Pillow decodes it with warnings only
    b = bytearray(files["jpeg_baseline_420.jpg"])
    sos = b.find(b"\xff\xda")
    for k in range(20):
        p = sos + 40 + 37 * k
        if p < len(b) - 4 and b[p] != 0xFF and b[p - 1] != 0xFF:
            b[p] ^= 0x5A if (b[p] ^ 0x5A) != 0xFF else 0x33
    files["jpeg_corrupt_entropy.jpg"] = bytes(b)
    # missing EOI (the last two bytes): Pillow decodes
    files["jpeg_no_eoi.jpg"] = files["jpeg_baseline_420.jpg"][:-2]

    # PNG (Pillow's writer: all filters, zlib levels)
    save("png_rgb.png", rgb, format="PNG")
    save("png_rgba.png", Image.fromarray(np.dstack([pic, (np.arange(97 * 67) % 256).reshape(67, 97).astype(np.uint8)]), "RGBA"), format="PNG")
    save("png_gray.png", rgb.convert("L"), format="PNG")
    save("png_la.png", rgb.convert("LA"), format="PNG")
    save("png_palette.png", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=200), format="PNG")
    pal_t = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    save("png_palette_4bit_trns.png", pal_t, format="PNG", bits=4, transparency=3)
    save("png_1bit.png", rgb.convert("1"), format="PNG")
    # own writer: depths and layouts
    g = np.asarray(rgb.convert("L")).astype(np.int64)
    write_png(os.path.join(DIR, "_tmp.png"), (g >> 7)[..., None], 0, 1)
    for d in (1, 2, 4):
        write_png(os.path.join(DIR, "_tmp.png"), (g >> (8 - d))[..., None], 0, d)
        files[f"png_gray{d}.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    g16 = (g * 257 + (np.arange(g.size).reshape(g.shape) % 7))[..., None]
    g16[0, :10, 0] = np.arange(10) * 3  # a few values below 256 (kept as is by I;16 -> RGB)
    write_png(os.path.join(DIR, "_tmp.png"), g16, 0, 16)
    files["png_gray16.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    rgb16 = pic.astype(np.int64) * 257 + 13
    write_png(os.path.join(DIR, "_tmp.png"), rgb16, 2, 16)
    files["png_rgb16.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    rgba16 = np.dstack([rgb16, np.full(g.shape, 30000)])
    write_png(os.path.join(DIR, "_tmp.png"), rgba16, 6, 16)
    files["png_rgba16.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    la16 = np.dstack([g * 257 + 200, np.full(g.shape, 65535)])
    write_png(os.path.join(DIR, "_tmp.png"), la16, 4, 16)
    files["png_la16.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    pal = np.random.default_rng(4).integers(0, 256, (4, 3))
    write_png(os.path.join(DIR, "_tmp.png"), (g >> 6)[..., None], 3, 2, palette=pal)
    files["png_palette2.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    write_png(os.path.join(DIR, "_tmp.png"), pic, 2, 8, interlace=True)
    files["png_adam7_rgb.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    write_png(os.path.join(DIR, "_tmp.png"), (g >> 4)[..., None], 0, 4, interlace=True)
    files["png_adam7_gray4.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    write_png(os.path.join(DIR, "_tmp.png"), rgba16, 6, 16, interlace=True)
    files["png_adam7_rgba16.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    write_png(os.path.join(DIR, "_tmp.png"), np.asarray(rgb)[:5, :3], 2, 8,
              trns=struct.pack(">HHH", 1, 2, 3))
    files["png_rgb_trns_3x5.png"] = open(os.path.join(DIR, "_tmp.png"), "rb").read()
    os.remove(os.path.join(DIR, "_tmp.png"))
    for o in range(1, 9):
        save(f"png_exif_orient{o}.png", Image.fromarray(asym(40, 24)), format="PNG", exif=exif_bytes(o))
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.format(o=8))
    save("png_xmp_orient8.png", Image.fromarray(asym(40, 24)), format="PNG", pnginfo=info)
    raw = exif_bytes(3)
    hexs = raw.hex()
    prof = "\nexif\n" + f"{len(raw):8d}" + "\n" + "\n".join(hexs[i:i + 72] for i in range(0, len(hexs), 72)) + "\n"
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", prof, zip=True)
    save("png_rawprofile_orient3.png", Image.fromarray(asym(40, 24)), format="PNG", pnginfo=info)

    # WebP
    save("webp_lossy.webp", rgb, format="WEBP", quality=80)
    save("webp_lossless.webp", rgb, format="WEBP", lossless=True)
    rgba = Image.fromarray(np.dstack([pic, np.tile(np.arange(97, dtype=np.uint8) * 2, (67, 1))]), "RGBA")
    save("webp_lossy_alpha.webp", rgba, format="WEBP", quality=80)
    save("webp_lossless_alpha.webp", rgba, format="WEBP", lossless=True)
    for o in (3, 6, 8):
        save(f"webp_exif_orient{o}.webp", Image.fromarray(asym(40, 24)), format="WEBP",
             quality=90, exif=exif_bytes(o))

    # GIF
    save("gif_palette.gif", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), format="GIF")
    save("gif_gray.gif", rgb.convert("L"), format="GIF")
    save("gif_transparent.gif", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=32),
         format="GIF", transparency=5)
    save("gif_interlaced.gif", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
         format="GIF", interlace=True)
    frames = [Image.fromarray(picture(60, 40, s)).convert("P", palette=Image.Palette.ADAPTIVE) for s in (1, 2)]
    b = io.BytesIO()
    frames[0].save(b, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["gif_animated.gif"] = b.getvalue()
    # first frame smaller than the logical screen: enlarge the screen fields
    g1 = bytearray(files["gif_transparent.gif"])
    struct.pack_into("<HH", g1, 6, 120, 80)
    files["gif_small_frame_transparent.gif"] = bytes(g1)
    g2 = bytearray(files["gif_palette.gif"])
    struct.pack_into("<HH", g2, 6, 110, 70)
    files["gif_small_frame.gif"] = bytes(g2)

    # BMP
    save("bmp_24.bmp", rgb, format="BMP")
    save("bmp_8_palette.bmp", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=100), format="BMP")
    save("bmp_8_gray.bmp", rgb.convert("L"), format="BMP")
    save("bmp_1.bmp", rgb.convert("1"), format="BMP")
    w, h = 37, 23
    small = picture(w, h, 9)
    bgr_rows = [pad4(small[y][:, ::-1].tobytes()) for y in range(h)]
    files["bmp_24_topdown.bmp"] = bmp_file(w, h, 24, bgr_rows, top_down=True)
    files["bmp_24_os2.bmp"] = bmp_file(w, h, 24, bgr_rows[::-1], header=12)
    bgrx = [pad4(np.concatenate([small[y][:, ::-1], np.full((w, 1), 77, np.uint8)], axis=1).tobytes()) for y in range(h)]
    files["bmp_32_bgrx.bmp"] = bmp_file(w, h, 32, bgrx[::-1])
    files["bmp_32_bitfields_bgra.bmp"] = bmp_file(w, h, 32, bgrx[::-1], header=108, compression=3,
                                                  masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))
    rgba_rows = [np.concatenate([small[y], np.full((w, 1), 9, np.uint8)], axis=1).tobytes() for y in range(h)]
    files["bmp_32_bitfields_rgba_v5.bmp"] = bmp_file(w, h, 32, rgba_rows[::-1], header=124,
                                                     compression=3, masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000))
    s16 = small.astype(np.int64)
    p555 = ((s16[..., 0] >> 3) << 10) | ((s16[..., 1] >> 3) << 5) | (s16[..., 2] >> 3)
    p565 = ((s16[..., 0] >> 3) << 11) | ((s16[..., 1] >> 2) << 5) | (s16[..., 2] >> 3)
    files["bmp_16_555.bmp"] = bmp_file(w, h, 16, [pad4(p555[y].astype("<u2").tobytes()) for y in range(h)][::-1])
    files["bmp_16_565_bitfields.bmp"] = bmp_file(w, h, 16, [pad4(p565[y].astype("<u2").tobytes()) for y in range(h)][::-1],
                                                 compression=3, masks=(0xF800, 0x7E0, 0x1F))
    pal16 = [tuple(int(v) for v in c) for c in np.random.default_rng(5).integers(0, 256, (16, 3))]
    idx4 = (np.asarray(Image.fromarray(small).convert("L")) >> 4).astype(np.uint8)
    rows4 = [pad4(bytes((idx4[y][i] << 4) | (idx4[y][i + 1] if i + 1 < w else 0) for i in range(0, w, 2)))
             for y in range(h)]
    files["bmp_4_palette.bmp"] = bmp_file(w, h, 4, rows4[::-1], palette=pal16)
    pal256 = [tuple(int(v) for v in c) for c in np.random.default_rng(6).integers(0, 256, (256, 3))]
    idx8 = (np.asarray(Image.fromarray(small).convert("L")) // 8 * 8).astype(np.uint8)
    files["bmp_rle8.bmp"] = bmp_file(w, h, 8, None, compression=1, palette=pal256,
                                     raw_pixels=rle8_rows(idx8))
    files["bmp_rle4.bmp"] = bmp_file(w, h, 4, None, compression=2, palette=pal16,
                                     raw_pixels=rle4_rows(idx4))
    return notes


def pillow_decode(data):
    """transformers.image_utils.load_image: exif_transpose, then convert("RGB")."""
    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"))


def main():
    os.makedirs(DIR, exist_ok=True)
    for f in os.listdir(DIR):
        os.remove(os.path.join(DIR, f))
    files = {}
    build(files)
    rng = random.Random(11)
    refs = []
    for name in sorted(files):
        data = files[name]
        with open(os.path.join(DIR, name), "wb") as f:
            f.write(data)
        try:
            arr = pillow_decode(data)
        except Exception as e:  # noqa: BLE001
            refs.append({"file": name, "error": f"{type(e).__name__}: {e}", "bytes": len(data)})
            print(f"{name:36s} {len(data):6d} bytes  Pillow fails: {e}")
            continue
        h, w, _ = arr.shape
        smp = [[x, y] + [int(v) for v in arr[y, x]]
               for x, y in ((rng.randrange(w), rng.randrange(h)) for _ in range(4))]
        entry = {"file": name, "size": [w, h], "crc": crc32_hex(arr), "samples": smp,
                 "bytes": len(data)}
        # truncated copies: Pillow's verdict at a few lengths
        cuts = []
        for frac in (0.3, 0.6, 0.9):
            n = max(1, int(len(data) * frac))
            try:
                a = pillow_decode(data[:n])
                cuts.append({"len": n, "crc": crc32_hex(a), "size": [a.shape[1], a.shape[0]]})
            except Exception as e:  # noqa: BLE001  (Pillow raises several kinds)
                cuts.append({"len": n, "error": type(e).__name__})
        entry["truncated"] = cuts
        refs.append(entry)
        print(f"{name:36s} {len(data):6d} bytes  {w}x{h}  cuts: " +
              " ".join("err" if "error" in c else "ok" for c in cuts))
    doc = {"generator": "tools/refgen/make_media_fixtures.py", "pillow": PIL.__version__,
           "reference": "ImageOps.exif_transpose(Image.open(f)).convert('RGB')",
           "hash": "crc32 of the RGB bytes", "files": refs}
    with open(REFS, "w") as f:
        json.dump(doc, f, indent=0, separators=(",", ":"))
        f.write("\n")
    total = sum(len(v) for v in files.values())
    print(f"{len(files)} files, {total} bytes, Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
