#!/usr/bin/env bash
# Rebuild the default voice-call segments (叫号语音) in this folder with
# espeak-ng and sox: 16 kHz mono 16-bit WAV, silence trimmed, normalised.
# Chinese words use espeak-ng's cmn-latn-pinyin voice fed with pinyin (its
# plain `cmn` voice misreads tone numbers); ticket letters use the English
# voice, as halls usually say them. A hall can replace any file with a
# professional recording of the same name (any rate / channels: hallqd
# converts on load). See README.md for the list.
#
# Usage: assets/voice/make-voice.sh [OUTDIR]   (default: this folder)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
  apt-get update && apt-get install -y espeak-ng sox
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# say VOICE TEXT NAME: synthesize, trim leading/trailing silence, add 40 ms
# of air after, resample to 16 kHz mono, normalise to -1 dBFS.
say() {
  espeak-ng -v "$1" -s 135 -w "$tmp/raw.wav" "$2"
  sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$out/$3.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
    pad 0 0.04 norm -1
}

py=cmn-latn-pinyin
say $py "qing3" qing                      # 请
say $py "hao4" hao                        # 号
say $py "dao4" dao                        # 到
say $py "hao4 chuang1 kou3" hao-chuangkou # 号窗口
say $py "ban4 li3" banli                  # 办理
say $py "shi2" shi                        # 十 (window numbers 10-99)
say $py "bai3" bai                        # 百 (window numbers 100-999)
digits=(ling2 yi1 er4 san1 si4 wu3 liu4 qi1 ba1 jiu3)
for d in 0 1 2 3 4 5 6 7 8 9; do
  say $py "${digits[$d]}" "$d"
done
for l in A B C D E F G H I J K L M N O P Q R S T U V W X Y Z; do
  say en-us "$l" "$l"
done
# The chime before each call: a two-tone ding-dong.
sox -n -r 16000 -c 1 -b 16 "$tmp/ding.wav" synth 0.35 sine 1046.5 fade q 0.005 0.35 0.3 vol 0.5
sox -n -r 16000 -c 1 -b 16 "$tmp/dong.wav" synth 0.6 sine 784 fade q 0.005 0.6 0.5 vol 0.5
sox "$tmp/ding.wav" "$tmp/dong.wav" "$out/chime.wav" pad 0 0.15
ls "$out"/*.wav | wc -l
