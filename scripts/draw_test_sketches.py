"""Draw the hand-drawn-style test sketches in docs/sketches/ (run once; the PNGs are committed).

Each sketch is what a user would draw on a canvas: a few strokes through rough outline points,
each point jittered, each stroke wobbling along its length, with a pen width, colour, canvas
size and margin that vary between drawings (black on white, blue ink, white chalk on black,
transparent background). Items face the way Fashion-MNIST shows them (shoe toes to the left).

    python scripts/draw_test_sketches.py
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "docs" / "sketches"

# class → strokes, each a list of (x, y) in 0..1 of the item's box
DRAWINGS = {
    "t-shirt/top": [
        [
            (0.38, 0.12),
            (0.5, 0.2),
            (0.62, 0.12),
            (0.88, 0.24),
            (0.97, 0.44),
            (0.79, 0.5),
            (0.76, 0.4),
            (0.76, 0.95),
            (0.24, 0.95),
            (0.24, 0.4),
            (0.21, 0.5),
            (0.03, 0.44),
            (0.12, 0.24),
            (0.38, 0.12),
        ],
    ],
    "trouser": [
        [
            (0.28, 0.03),
            (0.72, 0.03),
            (0.78, 0.97),
            (0.57, 0.97),
            (0.5, 0.3),
            (0.43, 0.97),
            (0.22, 0.97),
            (0.28, 0.03),
        ],
    ],
    "pullover": [
        [
            (0.38, 0.08),
            (0.5, 0.15),
            (0.62, 0.08),
            (0.82, 0.16),
            (0.97, 0.9),
            (0.83, 0.93),
            (0.76, 0.4),
            (0.76, 0.95),
            (0.24, 0.95),
            (0.24, 0.4),
            (0.17, 0.93),
            (0.03, 0.9),
            (0.18, 0.16),
            (0.38, 0.08),
        ],
    ],
    "dress": [
        [(0.4, 0.03), (0.6, 0.03), (0.63, 0.36), (0.82, 0.97), (0.18, 0.97), (0.37, 0.36), (0.4, 0.03)],
        [(0.37, 0.36), (0.63, 0.36)],
    ],
    "coat": [
        [
            (0.38, 0.06),
            (0.5, 0.16),
            (0.62, 0.06),
            (0.84, 0.14),
            (0.97, 0.92),
            (0.83, 0.95),
            (0.77, 0.42),
            (0.77, 0.97),
            (0.23, 0.97),
            (0.23, 0.42),
            (0.17, 0.95),
            (0.03, 0.92),
            (0.16, 0.14),
            (0.38, 0.06),
        ],
        [(0.5, 0.16), (0.5, 0.97)],
    ],
    "sandal": [
        [(0.03, 0.62), (0.97, 0.55), (0.97, 0.68), (0.05, 0.75), (0.03, 0.62)],
        [(0.15, 0.62), (0.3, 0.38), (0.45, 0.6)],
        [(0.55, 0.58), (0.72, 0.3), (0.9, 0.56)],
    ],
    "shirt": [
        [
            (0.36, 0.08),
            (0.5, 0.2),
            (0.64, 0.08),
            (0.84, 0.15),
            (0.96, 0.9),
            (0.83, 0.92),
            (0.77, 0.42),
            (0.77, 0.96),
            (0.23, 0.96),
            (0.23, 0.42),
            (0.17, 0.92),
            (0.04, 0.9),
            (0.16, 0.15),
            (0.36, 0.08),
        ],
        [(0.36, 0.08), (0.44, 0.22), (0.5, 0.2), (0.56, 0.22), (0.64, 0.08)],
        [(0.5, 0.22), (0.5, 0.96)],
    ],
    "sneaker": [
        [
            (0.03, 0.62),
            (0.3, 0.52),
            (0.52, 0.32),
            (0.72, 0.3),
            (0.97, 0.42),
            (0.97, 0.78),
            (0.03, 0.78),
            (0.03, 0.62),
        ],
        [(0.03, 0.7), (0.97, 0.7)],
    ],
    "bag": [
        [(0.1, 0.34), (0.9, 0.34), (0.95, 0.95), (0.05, 0.95), (0.1, 0.34)],
        [(0.3, 0.34), (0.34, 0.08), (0.66, 0.08), (0.7, 0.34)],
    ],
    "ankle boot": [
        [
            (0.55, 0.05),
            (0.92, 0.05),
            (0.95, 0.95),
            (0.03, 0.95),
            (0.05, 0.72),
            (0.3, 0.62),
            (0.55, 0.55),
            (0.55, 0.05),
        ],
        [(0.72, 0.95), (0.72, 0.85), (0.95, 0.85)],
    ],
}
# a second drawing of some classes in another style: (class, canvas, pen, ink, paper, margin)
STYLES = [
    ("t-shirt/top", 256, 6, "black", "white", 0.08),
    ("trouser", 300, 4, "black", "white", 0.15),
    ("pullover", 256, 8, "navy", "white", 0.06),
    ("dress", 512, 10, "black", "white", 0.2),
    ("coat", 256, 5, "white", "black", 0.08),
    ("sandal", 400, 7, "black", "white", 0.1),
    ("shirt", 256, 5, "black", "transparent", 0.08),
    ("sneaker", 256, 6, "darkblue", "white", 0.1),
    ("bag", 320, 9, "black", "white", 0.12),
    ("ankle boot", 256, 6, "black", "white", 0.08),
    ("sneaker", 640, 14, "black", "white", 0.25),
    ("ankle boot", 200, 3, "white", "black", 0.05),
]


def wobbly(points, scale, rng):
    """Jitter each control point, then walk the polyline adding a slow sideways wobble."""
    jittered = [(x + rng.gauss(0, 0.015), y + rng.gauss(0, 0.015)) for x, y in points]
    path = []
    phase, freq, amp = rng.uniform(0, 6.3), rng.uniform(2, 5), rng.uniform(0.003, 0.01)
    for (x0, y0), (x1, y1) in zip(jittered, jittered[1:], strict=False):
        length = math.hypot(x1 - x0, y1 - y0)
        steps = max(2, int(length * 60))
        nx, ny = (-(y1 - y0) / (length + 1e-9), (x1 - x0) / (length + 1e-9))
        for i in range(steps):
            t = i / steps
            off = amp * math.sin(phase + freq * (len(path) / 60) * 2 * math.pi)
            path.append(((x0 + t * (x1 - x0) + nx * off) * scale, (y0 + t * (y1 - y0) + ny * off) * scale))
    path.append((jittered[-1][0] * scale, jittered[-1][1] * scale))
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    index = []
    for k, (name, size, pen, ink, paper, margin) in enumerate(STYLES):
        mode = "RGBA" if paper == "transparent" else "RGB"
        image = Image.new(mode, (size, size), (0, 0, 0, 0) if paper == "transparent" else paper)
        draw = ImageDraw.Draw(image)
        box = size * (1 - 2 * margin)
        for stroke in DRAWINGS[name]:
            path = [(x + size * margin, y + size * margin) for x, y in wobbly(stroke, box, rng)]
            draw.line(path, fill=ink, width=pen, joint="curve")
        file = f"{k:02d}-{name.replace('/', '-').replace(' ', '-')}.png"
        image.save(OUT / file)
        index.append({"file": file, "label": name})
    (OUT / "labels.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"wrote {len(index)} sketches to {OUT}")


if __name__ == "__main__":
    main()
