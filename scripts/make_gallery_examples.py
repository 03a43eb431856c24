"""Make the gallery's examples (examples/gallery/): for each entry of pix2pix_hub/app/gallery.py an input of its own
kind. Line drawings, label maps, the street map and the aerial view are drawn here (the project's own work); the
photos come from Debian packages under free licences (GPL-2+, CC-BY-4.0), listed with their authors in
examples/gallery/SOURCES.md, which this script writes too. Deterministic:

    python scripts/make_gallery_examples.py

The packages are fetched with `apt-get download` into data_cache/gallery_packages/ (nothing is installed).
Canvas kinds (edges, labels) are exactly 256×256 with only their palette's colours; photos are 512×384 JPEGs.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, no install needed

from pix2pix_hub.app.gallery import CITYSCAPES_PALETTE as CITY  # noqa: E402
from pix2pix_hub.app.gallery import ENTRIES  # noqa: E402
from pix2pix_hub.app.gallery import FACADES_PALETTE as FACADE  # noqa: E402

OUT = ROOT / "examples" / "gallery"
PACKAGES = ROOT / "data_cache" / "gallery_packages"
CANVAS, PHOTO = 256, (512, 384)
DEBS = ("tuxpaint-stamps-default", "mate-backgrounds", "lomiri-wallpapers-16.04", "plasma-workspace-wallpapers")
LOMIRI = "usr/share/backgrounds/{}_by_Aitzol_Berasategi.jpg"
LOMIRI_LICENCE = "CC-BY-4.0, © Aitzol Berasategi 2018 (Debian package lomiri-wallpapers-16.04, {version})"
MATE_LICENCE = "GPL-2+, © {who} (Debian package mate-backgrounds, {version})"
STAMPS = "usr/share/tuxpaint/stamps"
TUXPAINT_LICENCE = "GPL-2, Tux Paint stamp (Debian package tuxpaint-stamps-default, {version})"


# -- the Debian packages ---------------------------------------------------------------------------------------
def unpacked(package: str) -> tuple[Path, str]:
    """(root of the package's files, version): `apt-get download` + `dpkg-deb -x`, once."""
    PACKAGES.mkdir(parents=True, exist_ok=True)
    debs = sorted(PACKAGES.glob(f"{package}_*.deb"))
    if not debs:
        done = subprocess.run(["apt-get", "download", package], cwd=PACKAGES, capture_output=True, text=True)
        debs = sorted(PACKAGES.glob(f"{package}_*.deb"))
        if done.returncode != 0 or not debs:
            sys.exit(f"make_gallery_examples: cannot download the Debian package {package} "
                     f"({(done.stderr or done.stdout).strip().splitlines()[-1:]}); run `apt-get update` first")
    root = PACKAGES / package
    if not root.is_dir():
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    return root, debs[-1].name.split("_")[1].replace("%3a", ":")


def photo_crop(path: Path, box: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Image.Image:
    """The part `box` (fractions of width and height) of a photo, cropped to 4:3 around its centre, 512×384."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        left, top, right, bottom = box[0] * w, box[1] * h, box[2] * w, box[3] * h
        cw, ch = right - left, bottom - top
        if cw / ch > 4 / 3:
            left, cw = left + (cw - ch * 4 / 3) / 2, ch * 4 / 3
        else:
            top, ch = top + (ch - cw * 3 / 4) / 2, cw * 3 / 4
        return image.resize(PHOTO, Image.LANCZOS, box=(left, top, left + cw, top + ch))


def stamp_on(background: Image.Image, stamp_path: Path, placements: list[tuple[float, float, float]]) -> Image.Image:
    """Cut-out stamps pasted on a photo: (centre x, bottom y as fractions, height in px) each."""
    out = background.copy()
    with Image.open(stamp_path) as stamp:
        stamp = stamp.convert("RGBA")
        for cx, bottom, height in placements:
            width = round(stamp.width * height / stamp.height)
            scaled = stamp.resize((width, round(height)), Image.LANCZOS)
            out.paste(scaled, (round(cx * out.width - width / 2), round(bottom * out.height - height)), scaled)
    return out


# -- drawn inputs --------------------------------------------------------------------------------------------
def bezier(points: list[tuple[float, float]], steps: int = 24) -> list[tuple[float, float]]:
    """A smooth curve through a control polygon (de Casteljau)."""
    out = []
    for i in range(steps + 1):
        t, pts = i / steps, list(points)
        while len(pts) > 1:
            pts = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for a, b in zip(pts, pts[1:])]
        out.append(pts[0])
    return out


def shoe(kind: str) -> Image.Image:
    """A shoe in side view as the edges2shoes inputs show them: thin black contours on white, the toe right."""
    image = Image.new("RGB", (CANVAS, CANVAS), "white")
    draw = ImageDraw.Draw(image)

    def line(points, width=2):
        draw.line(points, fill="black", width=width, joint="curve")

    if kind == "sneaker":
        upper = bezier([(40, 170), (34, 120), (60, 100), (95, 110)]) + bezier([(95, 110), (120, 118), (150, 120),
                                                                                (180, 135)])
        upper += bezier([(180, 135), (215, 145), (232, 160), (226, 180)])
        line(upper)
        line(bezier([(40, 170), (42, 190), (60, 195), (120, 195)]) + bezier([(120, 195), (180, 196), (215, 194),
                                                                             (226, 180)]))
        line(bezier([(42, 182), (90, 186), (170, 187), (224, 176)]), 1)  # the sole's top edge
        line(bezier([(58, 108), (75, 125), (95, 122), (100, 112)]))  # the collar
        for i in range(5):  # laces
            x = 112 + 13 * i
            line([(x, 117 + 3 * i), (x + 10, 131 + 3 * i)], 1)
        line(bezier([(110, 170), (135, 140), (165, 150), (190, 172)]), 1)  # a side stripe
        line(bezier([(200, 150), (212, 165), (214, 178)]), 1)  # the toe cap
    else:  # an ankle boot
        line(bezier([(70, 40), (66, 100), (62, 140), (60, 190)]))  # the back
        line(bezier([(118, 40), (122, 95), (132, 120), (170, 135)]) + bezier([(170, 135), (210, 145), (228, 165),
                                                                               (222, 190)]))
        line([(70, 40), (118, 40)])
        line(bezier([(60, 190), (58, 205), (75, 208), (120, 208)]) + bezier([(120, 208), (180, 209), (215, 206),
                                                                             (222, 190)]))
        line([(60, 196), (222, 196)], 1)  # the welt
        line([(66, 196), (66, 212), (96, 212), (96, 206)])  # the heel
        for i in range(6):  # eyelets and laces
            y = 55 + 14 * i
            draw.ellipse((112 + 2 * i, y, 116 + 2 * i, y + 4), outline="black")
            line([(114 + 2 * i, y + 2), (128 + 3 * i, y + 9)], 1)
        line(bezier([(75, 60), (90, 64), (105, 62)]), 1)  # the pull tab's seam
    return image


def facade(floors: int, columns: int, seed: int) -> Image.Image:
    """A CMP-facades-like label map in pixsrv's colours, every pixel one of them (no anti-aliasing)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (CANVAS, CANVAS), FACADE["background"])
    draw = ImageDraw.Draw(image)
    box = lambda x0, y0, x1, y1, name: draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=FACADE[name])  # noqa: E731
    left, right, top, bottom = 14, 242, 28, 256
    box(left, top, right, bottom, "wall")
    box(left - 4, top - 12, right + 4, top, "cornice")
    box(left, top, left + 10, bottom, "column")
    box(right - 10, top, right, bottom, "column")
    ground = bottom - 52
    box(left, ground - 5, right, ground, "trim")
    storey = (ground - 5 - top) / floors
    span = (right - left - 20) / columns
    for floor in range(floors):
        y0 = top + floor * storey
        for col in range(columns):
            x0 = left + 10 + col * span
            wx0, wx1 = round(x0 + span * 0.28), round(x0 + span * 0.72)
            wy0, wy1 = round(y0 + storey * 0.28), round(y0 + storey * 0.78)
            box(wx0 - 2, wy0 - 5, wx1 + 2, wy0, "window head")
            box(wx0, wy0, wx1, wy1, "window")
            box(wx0 - 3, wy1, wx1 + 3, wy1 + 4, "window sill")
            if floor % 2 == 0 and rng.random() < 0.7:
                box(wx0 - 8, wy0, wx0 - 2, wy1, "shutter")
                box(wx1 + 2, wy0, wx1 + 8, wy1, "shutter")
            if floor == floors - 1 and col % 2 == 1:
                box(wx0 - 6, wy1 - 10, wx1 + 6, wy1 + 4, "balcony")
    door_x = left + 10 + (columns // 2) * span
    box(round(door_x + span * 0.2), ground + 6, round(door_x + span * 0.8), bottom, "door")
    box(round(door_x + span * 0.12), ground + 2, round(door_x + span * 0.88), ground + 6, "entrance")
    for col in range(columns):
        if col != columns // 2:
            x0 = left + 10 + col * span
            box(round(x0 + span * 0.25), ground + 12, round(x0 + span * 0.75), bottom - 10, "window")
    return image


def street() -> Image.Image:
    """A Cityscapes-like label map: a street in perspective, in the dataset's own class colours."""
    image = Image.new("RGB", (CANVAS, CANVAS), CITY["sky"])
    draw = ImageDraw.Draw(image)
    poly = lambda points, name: draw.polygon(points, fill=CITY[name])  # noqa: E731
    horizon, vanish = 118, 132
    poly([(0, 20), (95, 70), (110, horizon), (0, 200)], "building")
    poly([(256, 0), (256, 210), (150, horizon), (160, 60)], "building")
    poly([(96, 90), (118, 100), (122, horizon), (106, horizon)], "vegetation")
    poly([(0, 180), (40, 150), (70, 160), (60, 205), (0, 215)], "vegetation")
    poly([(0, 256), (256, 256), (256, 215), (vanish, horizon), (0, 205)], "sidewalk")
    poly([(20, 256), (240, 256), (vanish + 6, horizon), (vanish - 6, horizon)], "road")
    poly([(256, 205), (256, 215), (vanish + 4, horizon)], "terrain")
    for x0, y0, w, h in ((150, 150, 40, 28), (60, 165, 55, 36), (128, 128, 14, 10)):
        poly([(x0, y0 + h * 0.35), (x0 + w * 0.2, y0), (x0 + w * 0.8, y0), (x0 + w, y0 + h * 0.35), (x0 + w, y0 + h),
              (x0, y0 + h)], "car")
    draw.rectangle((200, 60, 203, 215), fill=CITY["pole"])
    draw.rectangle((194, 62, 210, 76), fill=CITY["traffic sign"])
    draw.rectangle((30, 90, 32, 200), fill=CITY["pole"])
    draw.rectangle((26, 92, 36, 112), fill=CITY["traffic light"])
    draw.ellipse((226, 148, 236, 158), fill=CITY["person"])
    poly([(224, 158), (238, 158), (240, 200), (222, 200)], "person")
    draw.rectangle((170, 110, 180, 119), fill=CITY["traffic sign"])
    return image


def street_map(seed: int = 0) -> Image.Image:
    """A street map in the style of the maps dataset's Google Maps tiles: blocks, white streets, a yellow
    main road, a park and a river."""
    rng = random.Random(seed)
    width, height = PHOTO
    image = Image.new("RGB", PHOTO, "#ebe7df")
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 300), (180, 270), (340, 320), (512, 290), (512, 345), (330, 370), (170, 322), (0, 352)],
                 fill="#a9cbf3")  # a river
    draw.rectangle((300, 40, 420, 150), fill="#c6e1ad")  # a park
    for x in range(-20, width, 64):  # streets: white with a grey casing
        x += rng.randint(-6, 6)
        draw.line([(x, 0), (x + 20, 275)], fill="#d4cfc7", width=11)
        draw.line([(x, 0), (x + 20, 275)], fill="white", width=7)
    for y in range(20, 280, 56):
        draw.line([(0, y), (width, y + 12)], fill="#d4cfc7", width=11)
        draw.line([(0, y), (width, y + 12)], fill="white", width=7)
    draw.line([(0, 240), (512, 120)], fill="#e8b84a", width=15)  # a main road
    draw.line([(0, 240), (512, 120)], fill="#fbd770", width=11)
    draw.line([(240, 384), (260, 0)], fill="#d4cfc7", width=13)  # a bridge over the river
    draw.line([(240, 384), (260, 0)], fill="white", width=9)
    return image


def aerial(seed: int = 1) -> Image.Image:
    """A synthetic top-down view (roofs, streets, lawns, trees, textured with noise): no freely licensed aerial
    photo ships in Debian's packages, so this stands in for one (see SOURCES.md)."""
    rng = random.Random(seed)
    width, height = PHOTO
    image = Image.new("RGB", PHOTO, (96, 112, 72))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 96):
        for x in range(0, width, 128):
            for _ in range(3):  # houses: roofs in greys and terracotta, each with a lit and a shaded half
                rx, ry = x + rng.randint(10, 80), y + rng.randint(10, 55)
                rw, rh = rng.randint(24, 40), rng.randint(18, 30)
                base = rng.choice([(150, 80, 60), (120, 120, 125), (170, 160, 150), (90, 90, 95)])
                draw.rectangle((rx, ry, rx + rw, ry + rh), fill=base)
                draw.rectangle((rx, ry, rx + rw, ry + rh // 2), fill=tuple(min(255, c + 25) for c in base))
            for _ in range(4):
                tx, ty, r = x + rng.randint(0, 128), y + rng.randint(0, 96), rng.randint(6, 12)
                draw.ellipse((tx - r, ty - r, tx + r, ty + r), fill=(44, 70, 38))
        draw.rectangle((0, y + 86, width, y + 96), fill=(88, 88, 86))
    for x in range(120, width, 128):
        draw.rectangle((x, 0, x + 8, height), fill=(88, 88, 86))
    rng_noise = random.Random(seed + 1)
    noise = Image.frombytes("L", PHOTO, bytes(rng_noise.randrange(96, 160) for _ in range(width * height)))
    textured = Image.blend(image, Image.merge("RGB", [noise] * 3), 0.12).filter(ImageFilter.GaussianBlur(0.8))
    return textured


# -- the examples ------------------------------------------------------------------------------------------
def make() -> dict[str, tuple[Image.Image, str]]:
    """{file name: (image, its source and licence)}."""
    tux, tux_v = unpacked("tuxpaint-stamps-default")
    mate, mate_v = unpacked("mate-backgrounds")
    lomiri, lomiri_v = unpacked("lomiri-wallpapers-16.04")
    plasma, plasma_v = unpacked("plasma-workspace-wallpapers")
    own = "drawn by scripts/make_gallery_examples.py (this project's own work, its licence)"
    lomiri_licence = LOMIRI_LICENCE.format(version=lomiri_v)
    photo = lambda name: lomiri / LOMIRI.format(name)  # noqa: E731
    nature = mate / "usr/share/backgrounds/mate/nature"
    stamps = tux / STAMPS
    barbin = MATE_LICENCE.format(who="2008 Charles Barbin", version=mate_v)
    autumn = sorted((plasma / "usr/share/wallpapers/Autumn/contents/images").glob("1920x1080.*"))[0]
    meadow = photo_crop(photo("aitzgorri"), (0.1, 0.45, 0.75, 1.0))
    made = {
        "edges2shoes1.png": (shoe("sneaker"), own),
        "edges2shoes2.png": (shoe("boot"), own),
        "facades_label2photo1.png": (facade(4, 4, 0), own),
        "facades_label2photo2.png": (facade(3, 3, 1), own),
        "cityscapes_label2photo1.png": (street(), own),
        "map2sat1.png": (street_map(), own + "; in the style of the maps dataset's Google Maps tiles, no map data"),
        "sat2map1.jpg": (aerial(), own + ": a synthetic aerial view, as no freely licensed aerial photo ships in "
                                   "Debian's packages"),
        "day2night1.jpg": (photo_crop(photo("aitzgorri")), f"aitzgorri_by_Aitzol_Berasategi.jpg, {lomiri_licence}"),
        "summer2winter_yosemite1.jpg": (photo_crop(photo("life")),
                                        f"life_by_Aitzol_Berasategi.jpg, {lomiri_licence}"),
        "winter2summer_yosemite1.jpg": (photo_crop(photo("picosdeeuropa"), (0.3, 0.0, 1.0, 0.6)),
                                        f"picosdeeuropa_by_Aitzol_Berasategi.jpg (its snowy peaks), {lomiri_licence}"),
        "horse2zebra1.jpg": (stamp_on(meadow, stamps / "animals/mammals/equines/horse.png",
                                      [(0.38, 0.92, 230), (0.75, 0.8, 150)]),
                             "Tux Paint's horse.png photo cut-out on aitzgorri_by_Aitzol_Berasategi.jpg's meadow: "
                             f"{TUXPAINT_LICENCE.format(version=tux_v)}; {lomiri_licence}"),
        "zebra2horse1.jpg": (stamp_on(photo_crop(nature / "Dune.jpg", (0.0, 0.35, 1.0, 1.0)),
                                      stamps / "animals/mammals/equines/zebra.png", [(0.45, 0.95, 260)]),
                             "Tux Paint's zebra.png photo cut-out on Dune.jpg's grass: "
                             f"{TUXPAINT_LICENCE.format(version=tux_v)}; Dune.jpg "
                             + MATE_LICENCE.format(who="2007 Marco Cogoni, 2008 Hylke Bons", version=mate_v)),
        "apple2orange1.jpg": (stamp_on(photo_crop(nature / "Wood.jpg"), stamps / "food/fruit/apple_red.png",
                                       [(0.3, 0.7, 120), (0.55, 0.78, 130), (0.75, 0.62, 110)]),
                              "Tux Paint's apple_red.png on Wood.jpg: " + TUXPAINT_LICENCE.format(version=tux_v)
                              + "; Wood.jpg " + MATE_LICENCE.format(who="2008 Jean-François Fortin Tam",
                                                                    version=mate_v)),
        "orange2apple1.jpg": (stamp_on(photo_crop(nature / "Wood.jpg", (0.2, 0.2, 1.0, 1.0)),
                                       stamps / "food/fruit/orange.png", [(0.35, 0.72, 120), (0.65, 0.75, 125)]),
                              "Tux Paint's orange.png on Wood.jpg: " + TUXPAINT_LICENCE.format(version=tux_v)
                              + "; Wood.jpg " + MATE_LICENCE.format(who="2008 Jean-François Fortin Tam",
                                                                    version=mate_v)),
        "monet2photo1.jpg": (photo_crop(autumn),
                             f"Autumn (KDE Plasma wallpaper, a painting: no Monet ships in Debian's packages), GPL-2+, "
                             f"© 2014 KDE Visual Design Group (Debian package plasma-workspace-wallpapers, {plasma_v})"),
        "style_monet1.jpg": (photo_crop(nature / "Dune.jpg"), "Dune.jpg, " + MATE_LICENCE.format(
            who="2007 Marco Cogoni, 2008 Hylke Bons", version=mate_v)),
        "style_cezanne1.jpg": (photo_crop(photo("aitzgorri"), (0.0, 0.0, 0.7, 0.8)),
                               f"aitzgorri_by_Aitzol_Berasategi.jpg, {lomiri_licence}"),
        "style_ukiyoe1.jpg": (photo_crop(photo("picosdeeuropa")),
                              f"picosdeeuropa_by_Aitzol_Berasategi.jpg, {lomiri_licence}"),
        "style_vangogh1.jpg": (photo_crop(photo("sunset")), f"sunset_by_Aitzol_Berasategi.jpg, {lomiri_licence}"),
        "iphone2dslr_flower1.jpg": (photo_crop(nature / "YellowFlower.jpg"), f"YellowFlower.jpg, {barbin}"),
    }
    missing = {e.name for e in ENTRIES} - {Path(name).stem.rstrip("0123456789_-") for name in made}
    assert not missing, f"no example for {sorted(missing)}"
    return made


def main() -> None:
    made = make()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    lines = ["# The gallery's examples: sources and licences", "",
             "Made by `python scripts/make_gallery_examples.py` (deterministic). Photos are 512×384 crops; "
             "drawings and label maps 256×256.", "", "| file | source and licence |", "|---|---|"]
    for name, (image, source) in made.items():
        if name.endswith(".jpg"):
            image.save(OUT / name, quality=88, optimize=True)
        else:
            image.save(OUT / name, optimize=True)
        lines.append(f"| `{name}` | {source} |")
    (OUT / "SOURCES.md").write_text("\n".join(lines) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(made)} examples and SOURCES.md to {OUT} ({total / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
