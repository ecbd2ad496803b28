"""Build the report's fast CJK fonts from Debian's Noto Sans CJK (fonts-noto-cjk).

    python scripts/make_fonts.py [--source-dir /usr/share/fonts/opentype/noto]

Writes two cuts of Noto Sans CJK SC, both converted to TrueType outlines:

* reports/fonts/ReportSans-Regular.ttf — what a report nearly always needs:
  ASCII and Latin-1, general and CJK punctuation, full-width forms, symbols
  and the 6,763 hanzi of GB 2312 (about 7,800 glyphs);
* reports/fonts/ReportSansExt-Regular.ttf — every other hanzi of the CJK
  Unified Ideographs and Extension A blocks (names such as 堃 喆 玥 镕 䶮).

WeasyPrint subsets every embedded font again for each PDF; starting from a
few thousand TrueType glyphs instead of 65,535 CFF ones is what makes a report
render in a fraction of a second. The report's CSS lists the core cut, the
extension, then the full system font, so rarer characters (Extension B and
beyond, e.g. 𠮷) still print, at the cost of a slower render.

Noto Sans CJK is under the SIL Open Font License 1.1 with no Reserved Font
Name, so the cut may be renamed and redistributed; the licence travels with it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, newTable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "fonts"
SC_INDEX = 2   # Noto Sans CJK SC inside the .ttc collection


def core_characters() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    chars |= {chr(c) for c in range(0xA0, 0x100)}
    chars |= {chr(c) for c in range(0x2000, 0x2070)}        # general punctuation
    chars |= {chr(c) for c in range(0x2190, 0x21FF)}        # arrows
    chars |= {chr(c) for c in range(0x2200, 0x22FF)}        # mathematical operators (≥ ≤ ×)
    chars |= {chr(c) for c in range(0x2460, 0x24FF)}        # enclosed numbers
    chars |= {chr(c) for c in range(0x2500, 0x25FF)}        # box drawing, shapes
    chars |= {chr(c) for c in range(0x2600, 0x27C0)}        # symbols, dingbats (✔ ✘)
    chars |= {chr(c) for c in range(0x3000, 0x3040)}        # CJK punctuation
    chars |= {chr(c) for c in range(0xFF00, 0xFFF0)}        # full-width forms
    chars |= set("²³¹°·—–…‰℃№")
    for hi in range(0xB0, 0xF8):                            # GB 2312 hanzi: rows 16–87
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return "".join(sorted(chars))


def extension_characters() -> str:
    core = set(core_characters())
    blocks = list(range(0x3400, 0x4DC0)) + list(range(0x4E00, 0xA000)) + list(range(0xF900, 0xFB00))
    return "".join(chr(c) for c in blocks if chr(c) not in core)


def to_truetype(font) -> None:
    """Replace CFF outlines by TrueType quadratics (max error 1 unit of 1000).

    fontTools subsets ``glyf`` fonts lazily; CFF subsetting executes every
    charstring, which alone costs seconds per report on a CJK font.
    """
    glyph_order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in glyph_order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = glyphs
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    post = font["post"]
    post.formatType = 3.0                   # no glyph names: a PDF addresses glyphs by id
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"
    font.recalcBBoxes = True


def build(source: Path, text: str, family: str, filename: str) -> Path:
    font = TTCollection(str(source)).fonts[SC_INDEX]
    options = subset.Options()
    options.layout_features = []          # horizontal CJK needs no substitutions; each closure adds thousands of glyphs
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx", "VORG"]
    options.name_IDs = ["*"]
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = family
        elif record.nameID == 4:
            record.string = f"{family} Regular"
        elif record.nameID == 6:
            record.string = family.replace(" ", "") + "-Regular"
    to_truetype(font)
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / filename
    font.save(str(target))
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-dir", default="/usr/share/fonts/opentype/noto")
    args = ap.parse_args()
    source = Path(args.source_dir) / "NotoSansCJK-Regular.ttc"
    for text, family, filename in ((core_characters(), "Report Sans CJK", "ReportSans-Regular.ttf"),
                                   (extension_characters(), "Report Sans CJK Ext", "ReportSansExt-Regular.ttf")):
        target = build(source, text, family, filename)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
