"""Real photos to the 28x28 image the model sees, with numpy, Pillow and OpenCV's GrabCut.

The web process runs this at upload time, so nothing here imports torch or Django.

Fashion-MNIST was made from product photos on white: trimmed to the item, the longest side
resized to 28 px, centred, the intensities negated and the result converted to gray. So its
items are light on an exactly black background, touch the frame on their longest side
(measured on the training set: ~0.1 px margin), and every image is stretched to use the full
range (92 % have a pixel at 255). Real photos are dark or colourful items on white or on a
busy background (a bed, a floor, a hanger), in any orientation, sometimes with transparency.
``preprocess`` brings them to that shape, in these steps (PREPROCESS_VERSION names them; a
stored photo records the version its 28x28 image was made with, so it can be recomputed when
the steps change):

1. ``orient``: apply the EXIF orientation (phones store photos sideways plus a tag).
2. ``flatten_alpha``: composite transparency onto white, the background Fashion-MNIST's
   photos had, and keep the alpha channel: where it outlines the item it *is* the item's mask.
   Where its opaque part is a box (a canvas padded with transparent strips, a photo pasted on
   a transparent page) the box holds the photo's own background: the item is then found by
   colour, as in an opaque photo (``alpha_outlines_item``).
3. ``working_copy``: shrink (antialiased) so that the longest side is WORK_SIDE pixels; the
   decisions below need no more detail and are cheap at that size.
4. ``background_colour``: the mean colour of a band along the border, where a photo is almost
   always background. (A k-means of several background colours was tried and did worse on the
   home photos' train split: an item running off the frame lends the "background" its colour.)
5. ``foreground_mask``: distance of each pixel from the background colour in CIELAB, lightness
   down-weighted (shadows and folds change lightness more than colour), so a red shirt on a
   green blanket of the same gray is found; thresholded by Otsu's method above a floor, looked
   at again less strictly when almost nothing stands out; closed, opened, the components kept
   that are large (a pair of shoes is two), holes filled. Then ``refine_with_grabcut``:
   OpenCV's GrabCut (Rother et al., 2004) learns colour models of item and background from
   the photo itself and cuts along edges, which finds a pale item on a pale bed or a patterned
   one on a patterned rug as a whole, where a single background colour finds fragments.
   Only a thin border band is taken for certain background; the colour mask is the fallback
   when the cut keeps almost nothing.
6. ``item_intensity``: the item light on black. Which way round is decided per photo: when the
   background is lighter than the item (a product shot on white), the gray values are
   negated as in Fashion-MNIST; when it is darker, they are kept. Everything outside the mask
   is black, and inside it the item keeps a floor intensity so a white shirt on a white bed
   is still a silhouette.
7. ``crop_to_item``: crop to the mask's bounding box.
8. ``fit_to_frame``: resize the longest side to 28 px (LANCZOS, antialiased) and centre it on
   a black 28x28 square. No margin on the long side, as in Fashion-MNIST: a 1 px margin cost
   1-8 points on the home photos' train split.
9. ``stretch_contrast``: scale so the brightest item pixels reach 255, as Fashion-MNIST's do.

Normalisation to the model's input (mean/std of the checkpoint's preset) is not done here: it
is the engine's ``normalize``, the very function training uses, applied to these uint8 images.

``plain_preprocess`` is the notebook's way (grayscale, resize to 28x28), kept to measure the
difference (``python -m tools.photo_gap``).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFilter, ImageOps, UnidentifiedImageError

PREPROCESS_VERSION = 5  # 2: GrabCut refines the item's mask; 3: dark photos lifted (and switches for tags,
# pairs, wearers); 4: a wearer's skin (arms, legs, neck) left out; 5: an alpha channel that is an
# opaque box, not the item's outline, is not taken for the item's mask
SIZE = 28
WORK_SIDE = 160  # longest side of the working copy the mask and crop are found on
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Settings:
    """The pipeline's knobs, each with the value preprocess() uses. Changing one changes what
    the model sees: bump PREPROCESS_VERSION with it."""

    border_band: float = 0.05  # share of each side taken as background evidence
    lightness_weight: float = 0.5  # shadows and folds change lightness, not colour
    min_distance: float = 6.0  # CIELAB distance below which a pixel is never foreground
    min_item_share: float = 0.1  # a mask smaller than this share of the photo is looked for again
    keep_component_share: float = 0.15  # keep components at least this share of the largest
    grabcut_iterations: int = 5  # 0 turns the refinement off
    grabcut_border: float = 0.03  # share of each side GrabCut takes for certain background
    grabcut_min_share: float = 0.05  # a cut keeping less than this of the photo is not trusted
    intensity_floor: float = 0.3  # the dimmest an item pixel gets, of the brightest
    margin: int = 0  # pixels between the item's longest side and the frame
    stretch_percentile: float = 99.0  # this percentile of the item's pixels becomes 255
    # Version 3: kinds of photo Fashion-MNIST never shows. Each step is a switch, measured by
    # tools.preprocess_variants on the photos we may tune on (home train split, training-side
    # shops): on by default only if it lowered neither. The other three misfire on home photos
    # (2, 1 and 4 of 1,978 lost; 0, 0 and +1 of 123 shop photos): off until photos of their
    # kinds (tagged worn, price tag ...) show they help.
    lift_low_light: bool = True
    leave_out_detached: bool = False
    one_of_a_pair: bool = False
    leave_out_wearer: bool = False
    # Version 4, measured the same way on a 3-epoch `fast` model: 87 -> 90 of 123 shop photos
    # (19 made differently) and 1,314 -> 1,324 of 1,978 home photos (619 made differently).
    leave_out_skin: bool = True
    low_light_level: float = 110.0  # a photo whose bright end (99th percentile of gray) is below this is lifted
    detached_share: float = 0.4  # a part smaller than this share of the item, off its box, is a tag or text
    detached_reach: float = 0.1  # how far off the item's box (share of its size) a part still belongs to it
    detached_trim_keep: float = 0.95  # leaving parts out must keep at least this share of the cut
    wearer_shoulders: float = 1.8  # the item below a head is at least this many heads wide
    wearer_head_fill: float = 0.6  # a head fills at least this share of its box
    twin_share: float = 0.5  # a second part at least this share of the first, beside it: one of a pair
    pair_gap: float = 0.04  # columns this thinly covered (share of the item's height) between two halves: a pair
    wearer_head_top: float = 0.35  # a skin patch in this top share of the item is a wearer's head
    skin_share: tuple[float, float] = (0.03, 0.45)  # skin this share of the item: a wearer's arms, legs, face
    skin_keep: float = 0.5  # leaving the skin out must keep at least this share of the item in one piece
    # Version 5: an alpha channel's opaque part filling at least this share of its own box is a
    # box, not an item's outline. Of the 31 photos with transparency in ../shared, the two boxes
    # fill 1.000 of theirs, every cut-out item less than 0.9.
    alpha_box_fill: float = 0.98


DEFAULT = Settings()


# --- reading a photo safely ----------------------------------------------------------------

# Formats a photo may come in. Each one more is more decoder code facing strangers' files.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
ALLOWED_FORMATS_TEXT = "JPEG, PNG or WebP"
DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP: more than any phone's camera, far less than a bomb


class PhotoUnreadable(ValueError):
    """A file that is not a photo we can read; the message says why, in a user's words."""


def open_photo(source: bytes | str | Path | BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode a photo completely, or raise PhotoUnreadable.

    Never trusts a name or a content type: the bytes decide. The size in the header is
    checked before any pixel is decoded (a decompression bomb is a refusal, not a crash),
    the structure is verified, and the whole image is then decoded, so a truncated file
    fails here rather than later in a worker."""
    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = source.read()
    with warnings.catch_warnings():
        # Pillow only warns between its own limit and twice that; every bomb is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as probe:
                fmt, (width, height) = probe.format, probe.size
                _check_pixels(width, height, max_pixels)
                probe.verify()
            image = Image.open(io.BytesIO(data), formats=[fmt])
            image.load()
        except PhotoUnreadable:
            raise
        except UnidentifiedImageError:
            raise PhotoUnreadable(_not_allowed_message(data)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoUnreadable(
                f"has too many pixels: the limit is {max_pixels / 1e6:.0f} megapixels"
            ) from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure on a stranger's file is a refusal
            if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
                raise PhotoUnreadable("is truncated: the file ends before the image does") from None
            raise PhotoUnreadable(
                f"is damaged or truncated: it could not be decoded ({type(exc).__name__}: {exc})"
            ) from None
    return image


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise PhotoUnreadable(
            f"has too many pixels: {width}×{height} is {width * height / 1e6:.1f} megapixels, "
            f"the limit is {max_pixels / 1e6:.0f}"
        )


def _not_allowed_message(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as other:
            return f"is a {other.format} image; only {ALLOWED_FORMATS_TEXT} images are accepted"
    except Exception:  # noqa: BLE001 - whatever it is, it is not an image we know
        return f"is not an image: only {ALLOWED_FORMATS_TEXT} images are accepted"


# --- 1-3: a plain RGB working copy ----------------------------------------------------------


def orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, so a phone's portrait photo is upright."""
    return ImageOps.exif_transpose(image)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit gray: Pillow's convert clips instead of scaling.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def flatten_alpha(image: Image.Image, background: tuple[int, int, int] = WHITE
                  ) -> tuple[Image.Image, Image.Image | None]:
    """(RGB image composited onto ``background``, alpha as an "L" image or None if opaque)."""
    if not _has_alpha(image):
        return _to_rgb(image), None
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return rgba.convert("RGB"), None
    flat = Image.new("RGB", rgba.size, background)
    flat.paste(rgba, mask=alpha)
    return flat, alpha


def working_copy(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """A copy whose longest side is at most ``side`` px, shrunk with antialiasing."""
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


# --- 4-5: where the item is -----------------------------------------------------------------

_SRGB_TO_LAB = ImageCms.buildTransform(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
)


def to_lab(rgb: Image.Image) -> np.ndarray:
    """(H, W, 3) float: L in 0..100, a and b around 0."""
    raw = np.asarray(ImageCms.applyTransform(rgb, _SRGB_TO_LAB))
    # Pillow's LAB: L as an unsigned byte over 0..255, a and b as signed bytes.
    ab = raw[..., 1:].view(np.int8).astype(np.float32)
    return np.concatenate([raw[..., :1].astype(np.float32) * (100 / 255), ab], axis=-1)


def border_band(array: np.ndarray, share: float) -> np.ndarray:
    """The pixels of a band along all four sides, as (N, C)."""
    h, w = array.shape[:2]
    k = max(1, round(min(h, w) * share))
    band = np.zeros((h, w), dtype=bool)
    band[:k, :] = band[-k:, :] = True
    band[:, :k] = band[:, -k:] = True
    return array[band]


def _weighted(lab: np.ndarray, lightness_weight: float) -> np.ndarray:
    return lab * np.array([lightness_weight, 1.0, 1.0], dtype=lab.dtype)


def background_colour(lab: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """The background's colour (3,) in weighted CIELAB: the mean of the border band, where a
    photo is almost always background. (Several colours, found by k-means over the band, did
    worse on the home photos' train split: an item running off the frame lent them its own.)"""
    band = _weighted(border_band(lab, settings.border_band), settings.lightness_weight)
    return band.mean(axis=0)


def background_distance(lab: np.ndarray, colour: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """(H, W) distance of each pixel from the background colour."""
    return np.sqrt(((_weighted(lab, settings.lightness_weight) - colour) ** 2).sum(-1))


def otsu_threshold(values: np.ndarray, bins: int = 128) -> float:
    """The cut that best separates ``values`` into two groups (Otsu, 1979)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(hist * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def _morph(mask: np.ndarray, size: int, grow: bool) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    image = image.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
    return np.asarray(image) > 127


def _runs(mask: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Runs of True along each row: (row, start, exclusive end) lists, row-major order."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    rows, cols = np.nonzero(np.diff(padded, axis=1))  # a run's start and end alternate
    return rows[0::2].tolist(), cols[0::2].tolist(), cols[1::2].tolist()


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label 4-connected components: (labels (H, W) int32, 0 = none; how many).

    Works on runs of pixels rather than pixels (union-find over runs that overlap between
    neighbouring rows), so plain Python stays fast at working size."""
    run_rows, starts, ends = _runs(mask)
    parent = list(range(len(starts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(run_rows, np.arange(mask.shape[0] + 1)).tolist()
    for y in range(1, mask.shape[0]):
        i, i_end = row_first[y], row_first[y + 1]
        j, j_end = row_first[y - 1], row_first[y]
        while i < i_end and j < j_end:
            if starts[i] < ends[j] and starts[j] < ends[i]:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    roots: dict[int, int] = {}
    labels = np.zeros(mask.shape, dtype=np.int32)
    for k, (y, start, end) in enumerate(zip(run_rows, starts, ends)):
        labels[y, start:end] = roots.setdefault(find(k), len(roots) + 1)
    return labels, len(roots)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Background is what can be reached from the border without crossing the item."""
    outside, _ = components(np.pad(~mask, 1, constant_values=True))
    return outside[1:-1, 1:-1] != outside[0, 0]


def clean_mask(mask: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """Close small gaps (a seam, a strap), drop specks, keep the large parts, fill the holes."""
    mask = _morph(_morph(mask, 3, grow=True), 3, grow=False)
    opened = _morph(_morph(mask, 3, grow=False), 3, grow=True)
    mask = opened if opened.any() else mask
    labels, count = components(mask)
    if count > 1:
        areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        keep = np.flatnonzero(areas >= settings.keep_component_share * areas.max()) + 1
        mask = np.isin(labels, keep)
    return fill_holes(mask)


def colour_mask(lab: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """(H, W) bool: what differs from the border's colour enough to be the item."""
    distance = background_distance(lab, background_colour(lab, settings), settings)
    threshold = max(settings.min_distance, otsu_threshold(distance))
    mask = clean_mask(distance > threshold, settings)
    if mask.mean() < settings.min_item_share:
        # Almost nothing stands out: an item close to its background's colour (a pale
        # shirt on a white sheet). Look again, less strictly.
        mask = clean_mask(distance > max(settings.min_distance / 2, threshold / 2), settings)
    return mask


def refine_with_grabcut(rgb: Image.Image, fallback: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """(H, W) bool: GrabCut's item, everything but a thin border band a possible item to start.

    Its colour models come from this photo alone, so it needs no tuning to a kind of room; its
    cut follows edges, so an item's pattern stays one piece. ``fallback`` is returned when the
    cut keeps almost nothing (an item that fills the whole frame, say)."""
    h, w = fallback.shape
    band = max(1, round(min(h, w) * settings.grabcut_border))
    if settings.grabcut_iterations <= 0 or min(h, w) <= 2 * band + 2:
        return fallback
    marks = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
    marks[band:h - band, band:w - band] = cv2.GC_PR_FGD
    bgr = np.ascontiguousarray(np.asarray(rgb.convert("RGB"))[..., ::-1])
    cv2.setRNGSeed(0)  # its k-means starts from OpenCV's per-thread RNG: the same photo, the same cut
    try:
        cv2.grabCut(bgr, marks, None, np.zeros((1, 65)), np.zeros((1, 65)), settings.grabcut_iterations,
                    cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # e.g. a single-coloured photo leaves a colour model nothing to learn from
        return fallback
    mask = clean_mask((marks == cv2.GC_FGD) | (marks == cv2.GC_PR_FGD), settings)
    return mask if mask.mean() >= settings.grabcut_min_share else fallback


def lift_low_light(rgb: Image.Image, settings: Settings = DEFAULT) -> Image.Image:
    """A dark phone photo stretched to the full range, so that item and background differ by as
    much as in a lit one; a photo with a bright end is left alone."""
    gray = np.asarray(rgb.convert("L"))
    if not settings.lift_low_light or np.percentile(gray, 99) >= settings.low_light_level:
        return rgb
    return ImageOps.autocontrast(rgb, cutoff=1)


def _boxes(labels: np.ndarray, count: int) -> list[tuple[int, int, int, int]]:
    return [bounding_box(labels == k) for k in range(1, count + 1)]


def _trusted(mask: np.ndarray, evidence: np.ndarray | None) -> np.ndarray:
    """The mask's pixels that also differ from the background in colour, when there are enough
    of them to go by (GrabCut's cut may hold the background between two things); else the mask."""
    if evidence is None:
        return mask
    solid = mask & evidence
    return solid if solid.sum() >= 0.3 * mask.sum() else mask


def keep_item(mask: np.ndarray, settings: Settings = DEFAULT, evidence: np.ndarray | None = None) -> np.ndarray:
    """The item alone, where a photo shows more than one thing: parts that stand apart from the
    largest and are much smaller (a price tag, a logo, text beside it) are left out, and so is the
    second of a pair side by side (two shoes: Fashion-MNIST shows one). ``evidence``: the pixels
    that differ from the background in colour; the parts are found on those."""
    solid = _trusted(mask, evidence)
    labels, count = components(solid)
    if count == 0 or not settings.leave_out_detached:
        return one_of_a_pair(mask, settings, solid)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-areas)
    boxes = _boxes(labels, count)
    top, left, bottom, right = boxes[order[0]]
    reach_y, reach_x = settings.detached_reach * (bottom - top), settings.detached_reach * (right - left)
    keep, twin = [int(order[0]) + 1], False
    for index in order[1:]:
        t, lft, b, r = boxes[index]
        near = t < bottom + reach_y and b > top - reach_y and lft < right + reach_x and r > left - reach_x
        beside = t < bottom and b > top and (r <= left + reach_x or lft >= right - reach_x)  # level with it
        if settings.one_of_a_pair and areas[index] >= settings.twin_share * areas[order[0]] and beside:
            twin = True  # one of a pair is enough
        elif areas[index] >= settings.detached_share * areas[order[0]] or near:
            keep.append(int(index) + 1)
    kept = np.isin(labels, keep)
    t, lft, b, r = bounding_box(kept)
    h, w = b - t, r - lft
    box = np.zeros_like(mask)
    box[max(0, round(t - settings.detached_reach * h)):round(b + settings.detached_reach * h),
        max(0, round(lft - settings.detached_reach * w)):round(r + settings.detached_reach * w)] = True
    trimmed = mask & box
    # Leaving out a tag trims a little; leaving out much more means the parts were the item's own
    # pieces (a pale shirt found in fragments), unless it was the twin of a pair.
    if twin or trimmed.sum() >= settings.detached_trim_keep * mask.sum():
        mask = trimmed
    return one_of_a_pair(mask, settings, solid & mask)


def one_of_a_pair(mask: np.ndarray, settings: Settings = DEFAULT, evidence: np.ndarray | None = None) -> np.ndarray:
    """The larger half of two items side by side that touch only through a thin bridge (two
    boots on one shadow): a column in the middle half of the item covered for less than
    ``pair_gap`` of its height, with at least a third of the item on either side. Trousers' legs
    meet in a waistband far thicker than that. Columns are measured on ``evidence`` (the mask
    itself by default): a cut fills the gap between two boots as if it were leather."""
    top, left, bottom, right = bounding_box(mask)
    width, height = right - left, bottom - top
    if width < 8 or not settings.one_of_a_pair:
        return mask
    solid = _trusted(mask, evidence)
    cover = solid[top:bottom, left:right].sum(axis=0)
    middle = np.arange(width // 4, width - width // 4)
    thin = middle[cover[middle] < settings.pair_gap * height]
    if not len(thin):
        return mask
    valley = int(thin[np.argmin(cover[thin])])
    if min(cover[:valley].max(), cover[valley:].max()) < 0.5 * height:
        return mask  # not two items standing side by side
    cut = left + valley
    halves = mask.copy(), mask.copy()
    halves[0][:, cut:] = False
    halves[1][:, :cut] = False
    areas = [(h & solid).sum() for h in halves]
    if min(areas) < 0.33 * sum(areas):
        return mask
    return halves[int(np.argmax(areas))]


def skin_mask(rgb: Image.Image) -> np.ndarray:
    """(H, W) bool: skin-coloured pixels, by the usual YCrCb box (Chai and Ngan, 1999)."""
    ycrcb = np.asarray(rgb.convert("YCbCr"), dtype=np.int16)
    cb, cr = ycrcb[..., 1], ycrcb[..., 2]
    return (cr >= 135) & (cr <= 173) & (cb >= 77) & (cb <= 127) & (ycrcb[..., 0] >= 40)


def leave_out_wearer(rgb: Image.Image, mask: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """The garment without the person wearing it. Only when the item's top holds a skin patch
    narrower than the item (a head over shoulders): then what is above the patch's bottom and
    every skin-coloured pixel (arms, legs) leave the mask. A flat-lay or a beige coat, with no
    head on top, is left alone."""
    if not mask.any() or not settings.leave_out_wearer:
        return mask
    top, left, bottom, right = bounding_box(mask)
    height, width = bottom - top, right - left
    skin = skin_mask(rgb) & mask
    labels, count = components(skin)
    if count == 0:
        return mask
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    head_bottom = None
    for k, (t, lft, b, r) in enumerate(_boxes(labels, count), 1):
        h, w = b - t, r - lft
        # A head: a solid, roughly upright-oval patch at the top, the item wider below it (a
        # sandal's beige strap is thin and hollow, a beige coat's top is as wide as the coat).
        head_like = settings.wearer_head_fill <= areas[k - 1] / (h * w) and 0.8 <= h / w <= 2.2
        below = mask[b:min(b + max(2, round(0.1 * height)), mask.shape[0])]
        shoulders = below.sum(axis=1).max(initial=0) >= settings.wearer_shoulders * w
        if (head_like and shoulders and areas[k - 1] >= 0.01 * mask.sum() and (t + b) / 2 < top + settings.wearer_head_top * height
                and w < 0.5 * width and t <= top + 0.1 * height):
            head_bottom = b if head_bottom is None else max(head_bottom, b)
    if head_bottom is None:
        return mask
    garment = mask & ~skin
    garment[:head_bottom] = False
    garment = clean_mask(garment, settings)
    return garment if garment.mean() >= 0.25 * mask.mean() else mask


def leave_out_skin(rgb: Image.Image, mask: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """The garment without the arms, legs and face of whoever wears it, found by colour alone
    (no head needed, so a shot cropped at the chin counts too): skin-coloured pixels leave the
    mask when they are a modest share of it. A beige coat, all skin-coloured, is left whole, and
    so is an item that would not keep half of itself in one piece."""
    if not mask.any() or not settings.leave_out_skin:
        return mask
    skin = skin_mask(rgb) & mask
    low, high = settings.skin_share
    if not low <= skin.sum() / mask.sum() <= high:
        return mask
    rest = mask & ~skin
    labels, count = components(rest)
    # Arms and a neck come off the edge of a garment and leave it in one piece; a skin-coloured
    # pattern (a check's lines) would cut it into many: then it is the item's own, and stays.
    if count == 0 or np.bincount(labels.ravel())[1:].max() < settings.skin_keep * mask.sum():
        return mask
    return clean_mask(rest, settings)


def alpha_outlines_item(opaque: np.ndarray, settings: Settings = DEFAULT) -> bool:
    """Whether the opaque part of a photo's alpha channel is the item's outline, and not a box
    around a photo with its own background (then a mask of the whole photo, seen as a gray
    square)."""
    rows, columns = np.nonzero(opaque)
    if not len(rows):
        return False
    box = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    return len(rows) / box < settings.alpha_box_fill


def foreground_mask(rgb: Image.Image, settings: Settings = DEFAULT, alpha: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: the item. From the alpha channel when it outlines the item, or when it is a
    box and the photo inside shows nothing else (a box-shaped item, cut out)."""
    opaque = None if alpha is None else alpha > 127
    mask = np.zeros((rgb.height, rgb.width), dtype=bool)
    if opaque is None or not alpha_outlines_item(opaque, settings):
        evidence = colour_mask(to_lab(rgb), settings)
        mask = refine_with_grabcut(rgb, evidence, settings)
        mask = leave_out_wearer(rgb, mask, settings)
        mask = leave_out_skin(rgb, mask, settings)
        mask = keep_item(mask, settings, evidence)
    if opaque is not None and not mask.any():
        evidence = clean_mask(opaque, settings)
        mask = keep_item(evidence, settings, evidence)
    return mask if mask.any() else np.ones(mask.shape, dtype=bool)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), bottom and right exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return 0, 0, mask.shape[0], mask.shape[1]
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


# --- 6-9: what the model sees ---------------------------------------------------------------


def item_intensity(gray: np.ndarray, mask: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """(H, W) float in 0..1: the item light on black, black outside the mask."""
    gray = gray.astype(np.float32)
    background = gray[~mask] if (~mask).any() else border_band(gray, settings.border_band)
    background_level = float(np.median(background))
    item_level = float(np.median(gray[mask])) if mask.any() else background_level
    # Negate when the background is the lighter (Fashion-MNIST's own photos were on white).
    signal = background_level - gray if background_level >= item_level else gray - background_level
    signal = np.clip(signal, 0, None)
    top = float(np.percentile(signal[mask], settings.stretch_percentile)) if mask.any() else 0.0
    signal = signal / top if top > 0 else np.zeros_like(signal)
    floor = settings.intensity_floor
    return np.where(mask, floor + (1 - floor) * np.clip(signal, 0, 1), 0.0)


def crop_to_item(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    top, left, bottom, right = bounding_box(mask)
    return values[top:bottom, left:right]


def fit_to_frame(values: np.ndarray, size: int = SIZE, margin: int = 0) -> np.ndarray:
    """Resize so the longest side spans the frame less its margins; centre on black."""
    h, w = values.shape
    inner = size - 2 * margin
    scale = inner / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    image = Image.fromarray(values.astype(np.float32), "F").resize((new_w, new_h), Image.Resampling.LANCZOS)
    out = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top:top + new_h, left:left + new_w] = np.asarray(image)
    return out


def stretch_contrast(values: np.ndarray) -> np.ndarray:
    """To uint8 with the brightest pixel at 255 (LANCZOS may overshoot; clip)."""
    values = np.clip(values, 0, None)
    top = float(values.max())
    if top <= 0:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip(np.round(values / top * 255), 0, 255).astype(np.uint8)


def prepare(image: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """Steps 1-3: the upright RGB working copy, and its alpha (H, W) uint8 or None."""
    rgb, alpha = flatten_alpha(orient(image))
    work = working_copy(rgb)
    if alpha is None:
        return work, None
    return work, np.asarray(alpha.resize(work.size, Image.Resampling.BOX))


def preprocess_prepared(work: Image.Image, alpha: np.ndarray | None, settings: Settings = DEFAULT) -> np.ndarray:
    """Steps 4-9 on what prepare() returned."""
    return _preprocess_and_box(work, alpha, settings)[0]


def _preprocess_and_box(work: Image.Image, alpha: np.ndarray | None,
                        settings: Settings) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    work = lift_low_light(work, settings)
    mask = foreground_mask(work, settings, alpha=alpha)
    intensity = item_intensity(np.asarray(work.convert("L")), mask, settings)
    image = stretch_contrast(fit_to_frame(crop_to_item(intensity, mask), margin=settings.margin))
    return image, frame_box(mask, margin=settings.margin)


def frame_box(mask: np.ndarray, size: int = SIZE, margin: int = 0) -> tuple[float, float, float, float]:
    """Where the 28x28 frame lies on the photo: (left, top, right, bottom) as fractions of its
    width and height (beyond 0..1 where the square frame reaches past the photo's edges), so a
    map over what the model sees can be drawn over the photo. fit_to_frame's inverse: the item's
    box, centred in a square whose side its longest side spans less the margins."""
    top, left, bottom, right = bounding_box(mask)
    side = max(bottom - top, right - left) * size / (size - 2 * margin)
    centre_y, centre_x = (top + bottom) / 2, (left + right) / 2
    height, width = mask.shape
    return ((centre_x - side / 2) / width, (centre_y - side / 2) / height,
            (centre_x + side / 2) / width, (centre_y + side / 2) / height)


def preprocess(image: Image.Image, settings: Settings = DEFAULT) -> np.ndarray:
    """A photo as the model should see it: (28, 28) uint8, the item light on black."""
    return preprocess_prepared(*prepare(image), settings=settings)


def preprocess_with_box(image: Image.Image,
                        settings: Settings = DEFAULT) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """preprocess(), and where its frame lies on the (upright) photo (frame_box)."""
    return _preprocess_and_box(*prepare(image), settings=settings)


def plain_preprocess(image: Image.Image) -> np.ndarray:
    """The notebook's way, for comparison: grayscale, squash to 28x28, nothing else."""
    return np.asarray(orient(image).convert("L").resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.uint8)
