"""Audio data: the Free Spoken Digit Dataset (FSDD) as fixed-length float32 clips.

FSDD (Jackson et al., CC BY-SA 4.0): 3,000 recordings of the digits 0-9 spoken by 6
speakers, 50 takes of each digit by each speaker, 8 kHz, 16-bit. The .npz this loader reads
holds them concatenated: `audio` (int16), `offsets` (clip i is audio[offsets[i]:offsets[i+1]]),
`digit`, `speaker`, `take` (one per clip), `speaker_names` and `sample_rate`.

The data set's authors suggest testing on takes 0-4 of every speaker and digit; the file is
ordered by take as a string (0, 1, 10, 11, ...), so the split uses the `take` field.
"""

import os

import numpy as np

from tfflows.data.sources import Splits

FSDD_KEYS = ("audio", "offsets", "digit", "speaker", "take", "sample_rate")


def fsdd(
    path: str | os.PathLike,
    length: int = 4096,
    test_takes: int = 5,
    peak: float | None = 0.95,
) -> Splits:
    """FSDD clips as float32 [N, length] in [-1, 1] with digit labels (uint8 [N]).

    Each clip is cut to its first `length` samples (median clip: 3,358 samples, 0.42 s),
    scaled to int16 / 32768, then, with `peak`, scaled so that its largest absolute value is
    `peak` (two of the six speakers record about ten times quieter than the others;
    ClariNet's preprocessing normalises each clip this way), and padded with zeros at its end.
    Test: takes 0 .. test_takes - 1 of every speaker and digit (300 clips for 5); train: the rest.
    """
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 1:
        raise ValueError(f"length must be a whole number of samples >= 1, got {length!r}")
    if (
        isinstance(test_takes, bool)
        or not isinstance(test_takes, int | np.integer)
        or not (1 <= test_takes <= 49)
    ):
        raise ValueError(f"test_takes must be in 1..49 (FSDD has 50 takes), got {test_takes!r}")
    if peak is not None and not 0 < peak <= 1:
        raise ValueError(f"peak must be in (0, 1] or None, got {peak!r}")
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in FSDD_KEYS if k not in archive.files]
        if missing:
            raise ValueError(f"{path} is not an FSDD archive: it lacks {', '.join(missing)}")
        audio, offsets = archive["audio"], archive["offsets"].astype(np.int64)
        digit, take = archive["digit"], archive["take"]
    n = len(offsets) - 1
    if len(digit) != n or len(take) != n:
        raise ValueError(
            f"{path}: {n} clips in offsets, but {len(digit)} digits and {len(take)} takes"
        )
    clips = np.zeros((n, length), np.float32)
    for i in range(n):
        clip = audio[offsets[i] : offsets[i + 1]][:length].astype(np.float32) / 32768.0
        if peak is not None:
            top = np.abs(clip).max(initial=0.0)
            if top > 0:
                clip = clip * (peak / top)
        clips[i, : len(clip)] = clip
    test = take < test_takes
    return Splits(
        train_x=clips[~test],
        test_x=clips[test],
        train_y=digit[~test].astype(np.uint8),
        test_y=digit[test].astype(np.uint8),
        description=f"FSDD, {length}-sample clips, test = takes 0-{test_takes - 1}",
    )


def fsdd_source(spec: str) -> Splits:
    """`fsdd:path=FILE[,length=N][,test_takes=K][,peak=P]` -> `fsdd(...)` (the CLI's --data)."""
    fields = {}
    for item in filter(None, spec.partition(":")[2].split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{spec!r}: {item!r} is not KEY=VALUE")
        fields[key.strip()] = value.strip()
    unknown = set(fields) - {"path", "length", "test_takes", "peak"}
    if unknown or "path" not in fields:
        raise ValueError(
            f"{spec!r}: fsdd takes path=FILE and optionally length=, test_takes=, peak= "
            f"(unknown: {', '.join(sorted(unknown)) or 'none'}; path given: {'path' in fields})"
        )
    try:
        length = int(fields.get("length", 4096))
        takes = int(fields.get("test_takes", 5))
        peak = fields.get("peak", "0.95")
        peak = None if peak.lower() == "none" else float(peak)
    except ValueError as error:
        raise ValueError(f"{spec!r}: {error}") from None
    if not os.path.isfile(fields["path"]):
        raise ValueError(f"{spec!r}: no file {fields['path']}")
    return fsdd(fields["path"], length=length, test_takes=takes, peak=peak)


def save_wav(path: str | os.PathLike, clip, sample_rate: int = 8000) -> str | os.PathLike:
    """Writes a clip (float samples, [T]) as 16-bit mono PCM WAV; samples beyond [-1, 1] are
    clipped (a model's samples are not bounded)."""
    import wave

    clip = np.asarray(clip)
    if np.issubdtype(clip.dtype, np.integer):
        raise ValueError(
            f"save_wav takes float samples in [-1, 1], got {clip.dtype} (e.g. int16 / 32768)"
        )
    clip = clip.astype(np.float64)
    if clip.ndim != 1 or not clip.size:
        raise ValueError(f"save_wav takes one clip [T], got shape {clip.shape}")
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate < 1:
        raise ValueError(f"sample_rate must be a whole number of Hz >= 1, got {sample_rate!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not np.all(np.isfinite(clip)):
        raise ValueError("save_wav: the clip holds NaN or inf")
    pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    return path


def load_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1], sample rate) of a 16-bit mono PCM WAV file."""
    import wave

    with wave.open(str(path), "rb") as source:
        if source.getsampwidth() != 2 or source.getnchannels() != 1:
            raise ValueError(f"{path}: load_wav reads 16-bit mono PCM only")
        rate, frames = source.getframerate(), source.readframes(source.getnframes())
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0, rate
