#!/usr/bin/env bash
# Rebuild the display fonts beside this script:
#   hallq-cjk.ttf   Droid Sans Fallback (Apache-2.0) cut down to the
#                   characters of GB2312 it has (6763 hanzi, full-width
#                   punctuation and symbols);
#   hallq-latin.ttf DejaVu Sans (Bitstream Vera / DejaVu licence) cut down to
#                   ASCII, Latin-1 and the GB2312 symbols it has: digits,
#                   letters, arrows (Droid Sans Fallback has no Latin).
# Needs Debian's fonts-droid-fallback and fonts-dejavu-core, and fonttools
# (pip install fonttools). Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src=/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf
latin=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if [ ! -f "$src" ] || [ ! -f "$latin" ]; then
  apt-get install -y fonts-droid-fallback fonts-dejavu-core
fi
python3 - "$here/gb2312-chars.txt" <<'PY'
import sys
chars = [chr(c) for c in range(0x20, 0x7f)]
for c in range(0xa0, 0x10000):  # Latin-1 and all of GB2312
    ch = chr(c)
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        continue
    chars.append(ch)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("".join(chars))
print(len(chars), "characters")
PY
pyftsubset "$src" \
  --text-file="$here/gb2312-chars.txt" \
  --output-file="$here/hallq-cjk.ttf" \
  --no-hinting --desubroutinize --layout-features='' \
  --name-IDs='*' --name-legacy --name-languages='*'
pyftsubset "$latin" \
  --text-file="$here/gb2312-chars.txt" \
  --output-file="$here/hallq-latin.ttf" \
  --no-hinting --desubroutinize --layout-features='kern' \
  --name-IDs='*' --name-legacy --name-languages='*'
rm "$here/gb2312-chars.txt"
ls -l "$here/hallq-cjk.ttf" "$here/hallq-latin.ttf"
