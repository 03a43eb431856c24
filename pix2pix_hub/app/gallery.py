"""The app's gallery: the reference's pretrained generators, each with what it makes, its source and licence,
and the input it needs (a line drawing, a label map in its dataset's colours, or a photo).

Data only: the app, the canvas, the README table and the Space's card all read ENTRIES; nothing branches on an
entry's name. Weights come from the reference's download servers (pix2pix_hub/downloads.py) on first use
(pix2pix_hub/app/gallery_store.py).
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"
# The weights' own licence: the reference repository's (BSD-style, Jun-Yan Zhu and Taesung Park). The images
# they were trained on keep their datasets' terms, listed per entry.
WEIGHTS_LICENCE = "BSD (the reference repository's LICENSE)"
INPUT_KINDS = ("edges", "labels", "photo")

# pixsrv's (affinelayer/pix2pix-tensorflow) names for the CMP Facades label colours.
FACADES_PALETTE = {
    "background": "#0006d9", "wall": "#0d3dfb", "door": "#a50000", "window": "#0075ff", "window sill": "#68f898",
    "window head": "#1dffdd", "shutter": "#eeed28", "balcony": "#b8ff38", "trim": "#ff9204",
    "cornice": "#ff4401", "column": "#f60001", "entrance": "#00c9ff",
}
# The Cityscapes classes' own colours (cityscapesScripts' labels.py), as gtFine *_color.png paints them.
CITYSCAPES_PALETTE = {
    "road": "#804080", "sidewalk": "#f423e8", "building": "#464646", "wall": "#66669c", "fence": "#be9999",
    "pole": "#999999", "traffic light": "#faaa1e", "traffic sign": "#dcdc00", "vegetation": "#6b8e23",
    "terrain": "#98fb98", "sky": "#4682b4", "person": "#dc143c", "rider": "#ff0000", "car": "#00008e",
    "truck": "#000046", "bus": "#003c64", "train": "#005064", "motorcycle": "#0000e6", "bicycle": "#770b20",
    "unlabeled": "#000000",
}
PALETTES = {"facades": FACADES_PALETTE, "cityscapes": CITYSCAPES_PALETTE}


@dataclass(frozen=True)
class GalleryEntry:
    """One model of the gallery."""

    name: str  # the app's and the README's name; also the reference's file name
    makes: str  # one line: what it makes from what
    family: str  # pix2pix | cyclegan: which of the reference's download scripts lists it
    netG: str  # the reference's generator (for the benchmark and the card)
    domain_a: str
    domain_b: str
    input_kind: str  # edges | labels | photo: the tool the app gives it
    input_size: int  # px the model was trained at (a U-Net needs multiples of 256; a ResNet takes any size)
    dataset: str  # what it was trained on, with that data's terms
    palette: str | None = None  # labels only: a key of PALETTES

    @property
    def spec(self) -> str:
        """The name for pix2pix_hub.hub.downloads (names both scripts list take their family's prefix)."""
        return f"{self.family}:{self.name}"

    @property
    def source(self) -> str:
        """The reference's download URL of its weights (a mirror variable may point the app elsewhere)."""
        from ..hub.downloads import BASE_URLS

        return f"{BASE_URLS[(self.family, 'model')][1]}/{self.name}.pth"

    @property
    def direction(self) -> str:
        return f"{self.domain_a} → {self.domain_b}"

    @property
    def licence(self) -> str:
        return f"weights: {WEIGHTS_LICENCE}; training data: {self.dataset}"

    @property
    def colours(self) -> dict[str, str]:
        return dict(PALETTES[self.palette]) if self.palette else {}


def _pix2pix(name, makes, a, b, kind, dataset, palette=None):
    return GalleryEntry(name, makes, "pix2pix", "unet_256", a, b, kind, 256, dataset, palette)


def _cyclegan(name, makes, a, b, kind, dataset, palette=None):
    return GalleryEntry(name, makes, "cyclegan", "resnet_9blocks", a, b, kind, 256, dataset, palette)


ZAPPOS = "UT Zappos50K (Yu and Grauman), HED edges; academic, non-commercial use"
FACADES = "CMP Facade Database (Tyleček and Šára); research use, cite the paper"
TRANSIENT = "Transient Attributes webcam images (Laffont et al.); research use"
MAPS = "Google Maps tiles of New York (scraped for the pix2pix paper); Google's terms apply"
IMAGENET = "ImageNet photos (Flickr); ImageNet's non-commercial research terms"
FLICKR = "Flickr photos collected for the CycleGAN paper; each photo's own terms, research use"
WIKIART = "WikiArt paintings and Flickr landscape photos (CycleGAN paper); research use"
CITYSCAPES = "Cityscapes (Cordts et al.); its licence: non-commercial, registration required"

ENTRIES: tuple[GalleryEntry, ...] = (
    _pix2pix("edges2shoes", "a shoe photo from a line drawing", "edges", "shoe", "edges", ZAPPOS),
    _pix2pix("facades_label2photo", "a building front from a facade label map", "labels", "facade", "labels",
             FACADES, "facades"),
    _pix2pix("day2night", "a night view from a daytime photo", "day", "night", "photo", TRANSIENT),
    _pix2pix("map2sat", "an aerial photo from a street map", "map", "aerial", "photo", MAPS),
    _pix2pix("sat2map", "a street map from an aerial photo", "aerial", "map", "photo", MAPS),
    _cyclegan("horse2zebra", "zebras from a photo of horses", "horse", "zebra", "photo", IMAGENET),
    _cyclegan("zebra2horse", "horses from a photo of zebras", "zebra", "horse", "photo", IMAGENET),
    _cyclegan("apple2orange", "oranges from a photo of apples", "apple", "orange", "photo", IMAGENET),
    _cyclegan("orange2apple", "apples from a photo of oranges", "orange", "apple", "photo", IMAGENET),
    _cyclegan("summer2winter_yosemite", "a winter landscape from a summer one", "summer", "winter", "photo", FLICKR),
    _cyclegan("winter2summer_yosemite", "a summer landscape from a winter one", "winter", "summer", "photo", FLICKR),
    _cyclegan("monet2photo", "a photo from a Monet painting", "Monet", "photo", "photo", WIKIART),
    _cyclegan("style_monet", "a Monet-style painting from a photo", "photo", "Monet", "photo", WIKIART),
    _cyclegan("style_cezanne", "a Cézanne-style painting from a photo", "photo", "Cézanne", "photo", WIKIART),
    _cyclegan("style_ukiyoe", "an ukiyo-e print from a photo", "photo", "ukiyo-e", "photo", WIKIART),
    _cyclegan("style_vangogh", "a Van Gogh-style painting from a photo", "photo", "Van Gogh", "photo", WIKIART),
    _cyclegan("iphone2dslr_flower", "a shallow-focus DSLR look from a phone's flower photo", "iPhone", "DSLR",
              "photo", FLICKR),
    _cyclegan("cityscapes_label2photo", "a street scene from a Cityscapes label map", "labels", "street",
              "labels", CITYSCAPES, "cityscapes"),
)
BY_NAME = {entry.name: entry for entry in ENTRIES}


def entry(name) -> GalleryEntry | None:
    """The gallery entry called `name`, or None (anything that is not one of the names, whatever its type)."""
    return BY_NAME.get(name) if isinstance(name, str) else None


def names() -> list[str]:
    return [e.name for e in ENTRIES]


def markdown_table() -> str:
    """The README's (and the Space card's) table of the gallery."""
    rows = ["| entry | makes | model | input | source | licence |", "|---|---|---|---|---|---|"]
    for e in ENTRIES:
        tool = f"{e.input_kind} ({e.palette} palette)" if e.palette else e.input_kind
        rows.append(f"| `{e.name}` | {e.makes} ({e.direction}) | {e.family}, {e.netG} | {tool}, {e.input_size} px "
                    f"| [{e.name}.pth]({e.source}) | {e.licence} |")
    return "\n".join(rows)
