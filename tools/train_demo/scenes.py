"""The demo model's world: synthetic pictures of a few coloured shapes and the questions about
them whose answers follow from the picture alone. Needs only numpy and Pillow, so it runs (and is
checked) without torch; train.py imports it.

A picture is SIZE x SIZE pixels (168 = 6 x 28, so the Qwen2-VL processor keeps it as is: 12 x 12
patches of 14, 6 x 6 merged image tokens) on a light background, cut into a 3 x 3 grid of cells
of 56 pixels. The background is a faint two-way gradient (red falls to the right, green
downwards), so every patch's own pixels say where it is: Qwen2-VL's vision tower has only
relative (rotary) positions and cannot otherwise tell cells of a plain background apart. Each shape sits alone in one cell (jittered inside it), so "where", "how many" and
"what is in that cell" always have one answer. A shape is one of SHAPES, coloured one of COLORS,
small (half extent 9-12 px) or large (18-22 px). Drawn with Pillow's ImageDraw, no antialiasing.

Questions come in KINDS; a kind is only asked when its answer is unambiguous for the picture
(for example "What color is the square?" only when there is exactly one square). Answers are
templated sentences, deterministic functions of the scene.
"""
import random

import numpy as np
from PIL import Image, ImageDraw

SIZE = 168
CELL = SIZE // 3
SHAPES = ["circle", "square", "triangle"]
COLORS = {"red": (220, 40, 40), "green": (30, 160, 60), "blue": (40, 80, 220),
          "yellow": (235, 190, 20)}
COLOR_NAMES = list(COLORS)
SIZES = {"small": (9, 12), "large": (18, 22)}
NUMBERS = ["no", "one", "two", "three", "four"]
# where a cell (row, col) is, as the answers say it
PLACES = [["in the top left corner", "at the top", "in the top right corner"],
          ["on the left", "in the center", "on the right"],
          ["in the bottom left corner", "at the bottom", "in the bottom right corner"]]
MAX_SHAPES = 4
KINDS = ["count_color_shape", "count_shape", "count_color", "count_all", "color_of",
         "shape_of", "where", "size_of", "what_at", "describe"]
SYSTEM_WORDS = "You are a helpful assistant."


def random_scene(rng):
    """A scene: list of dicts {shape, color, size, row, col, cx, cy, r}, in reading order."""
    n = rng.randint(1, MAX_SHAPES)
    cells = sorted(rng.sample(range(9), n))
    scene = []
    for c in cells:
        row, col = divmod(c, 3)
        size = rng.choice(list(SIZES))
        r = rng.randint(*SIZES[size])
        slack = CELL // 2 - r - 2
        cx = col * CELL + CELL // 2 + rng.randint(-slack, slack)
        cy = row * CELL + CELL // 2 + rng.randint(-slack, slack)
        scene.append({"shape": rng.choice(SHAPES), "color": rng.choice(COLOR_NAMES),
                      "size": size, "row": row, "col": col, "cx": cx, "cy": cy, "r": r})
    return scene


def _background():
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    rgb = np.stack([240 - (40 * x) // (SIZE - 1), 240 - (40 * y) // (SIZE - 1),
                    np.full_like(x, 240)], -1)
    return rgb.astype(np.uint8)


BACKGROUND = _background()  # read-only; copied by render


def render(scene):
    """The scene as a SIZE x SIZE RGB Pillow image."""
    img = Image.fromarray(BACKGROUND.copy(), "RGB")
    d = ImageDraw.Draw(img)
    for s in scene:
        cx, cy, r, fill = s["cx"], s["cy"], s["r"], COLORS[s["color"]]
        if s["shape"] == "circle":
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        elif s["shape"] == "square":
            h = (r * 9) // 10
            d.rectangle((cx - h, cy - h, cx + h, cy + h), fill=fill)
        else:
            d.polygon([(cx, cy - r), (cx - r, cy + r - r // 5), (cx + r, cy + r - r // 5)],
                      fill=fill)
    return img


def _count_sentence(n, noun_one, noun_many):
    if n == 1:
        return "There is one %s." % noun_one
    return "There are %s %s." % (NUMBERS[n], noun_many)


def _phrase(s):
    return "a %s %s %s" % (s["size"], s["color"], s["shape"])


def _unique(scene, **attrs):
    hits = [s for s in scene if all(s[k] == v for k, v in attrs.items())]
    return hits[0] if len(hits) == 1 else None


def _descriptors(scene):
    """Ways to name one shape unambiguously: ("the circle", shape) when it is the only circle,
    ("the red circle", shape) when it is the only red circle."""
    out = []
    for s in scene:
        if _unique(scene, shape=s["shape"]):
            out.append((s["shape"], s))
        if _unique(scene, shape=s["shape"], color=s["color"]):
            out.append(("%s %s" % (s["color"], s["shape"]), s))
    return out


def question(scene, kind, rng):
    """(question, answer) of `kind` for the scene, or None when that kind has no unambiguous
    question about it."""
    if kind == "count_color_shape":
        if rng.random() < 0.6:
            s = rng.choice(scene)
            color, shape = s["color"], s["shape"]
        else:
            color, shape = rng.choice(COLOR_NAMES), rng.choice(SHAPES)
        n = sum(1 for s in scene if s["color"] == color and s["shape"] == shape)
        return ("How many %s %ss are there?" % (color, shape),
                _count_sentence(n, "%s %s" % (color, shape), "%s %ss" % (color, shape)))
    if kind == "count_shape":
        shape = rng.choice(SHAPES)
        n = sum(1 for s in scene if s["shape"] == shape)
        return "How many %ss are there?" % shape, _count_sentence(n, shape, shape + "s")
    if kind == "count_color":
        color = rng.choice(COLOR_NAMES)
        n = sum(1 for s in scene if s["color"] == color)
        return ("How many %s shapes are there?" % color,
                _count_sentence(n, "%s shape" % color, "%s shapes" % color))
    if kind == "count_all":
        return "How many shapes are there?", _count_sentence(len(scene), "shape", "shapes")
    if kind == "color_of":
        cands = [s for s in scene if _unique(scene, shape=s["shape"])]
        if not cands:
            return None
        s = rng.choice(cands)
        return "What color is the %s?" % s["shape"], "The %s is %s." % (s["shape"], s["color"])
    if kind == "shape_of":
        cands = [s for s in scene if _unique(scene, color=s["color"])]
        if not cands:
            return None
        s = rng.choice(cands)
        return ("What is the %s shape?" % s["color"],
                "The %s shape is a %s." % (s["color"], s["shape"]))
    if kind == "where":
        cands = _descriptors(scene)
        if not cands:
            return None
        name, s = rng.choice(cands)
        return ("Where is the %s?" % name,
                "The %s is %s." % (name, PLACES[s["row"]][s["col"]]))
    if kind == "size_of":
        cands = _descriptors(scene)
        if not cands:
            return None
        name, s = rng.choice(cands)
        return ("Is the %s small or large?" % name, "The %s is %s." % (name, s["size"]))
    if kind == "what_at":
        row, col = rng.choice([(s["row"], s["col"]) for s in scene]) if rng.random() < 0.7 \
            else divmod(rng.randrange(9), 3)
        place = PLACES[row][col]
        hit = [s for s in scene if s["row"] == row and s["col"] == col]
        answer = ("There is %s %s." % (_phrase(hit[0]), place) if hit
                  else "There is nothing %s." % place)
        return "What is %s?" % place, answer
    if kind == "describe":
        parts = ["%s %s" % (_phrase(s), PLACES[s["row"]][s["col"]]) for s in scene]
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return "Describe the picture.", text[0].upper() + text[1:] + "."
    raise ValueError(kind)


def sample_question(scene, rng, kind=None):
    """(kind, question, answer): `kind`, or a kind drawn uniformly among those that have a
    question for this scene."""
    kinds = [kind] if kind else rng.sample(KINDS, len(KINDS))
    for k in kinds:
        qa = question(scene, k, rng)
        if qa:
            return (k,) + qa
    return None


def corpus(seed=7, n=20000):
    """Text to train the tokenizer on: questions and answers of random scenes, every place
    phrase and number word, and the chat template's own words."""
    rng = random.Random(seed)
    out = [SYSTEM_WORDS, "system", "user", "assistant"]
    for _ in range(n):
        scene = random_scene(rng)
        for k in KINDS:
            qa = question(scene, k, rng)
            if qa:
                out.extend(qa)
    return out
