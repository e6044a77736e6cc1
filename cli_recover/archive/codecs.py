"""Compression codecs. Every one writes a format its own CLI reads: `zstd -d`, `lz4 -d`, `gzip -d`.

Compressors and decompressors work on chunks so memory stays flat; zstd uses its own worker
threads (released GIL), the others release the GIL inside their C code.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

CODECS = ("zstd", "lz4", "gzip", "none")


@dataclass(frozen=True)
class CodecInfo:
    name: str
    extension: str  # full suffix after the stream type, e.g. ".zst"
    default_level: int | None
    levels: tuple[int, int] | None  # inclusive range, None = no levels
    cli_decompress: str  # how a user reads it without cli-recover


INFO = {
    "zstd": CodecInfo("zstd", ".zst", 3, (1, 22), "zstd -d <"),
    "lz4": CodecInfo("lz4", ".lz4", 0, (0, 16), "lz4 -d <"),
    "gzip": CodecInfo("gzip", ".gz", 6, (1, 9), "gzip -d <"),
    "none": CodecInfo("none", "", None, None, "cat"),
}


def codec_info(name: str) -> CodecInfo:
    from cli_recover.errors import UsageError

    if isinstance(name, str) and name in INFO:
        return INFO[name]
    raise UsageError(f"unknown compression {name!r}: choose one of {', '.join(CODECS)}")


def resolve_level(name: str, level: int | None) -> int | None:
    from cli_recover.errors import UsageError

    info = codec_info(name)
    if info.levels is None:
        if level is not None:
            raise UsageError(f"compression {name} takes no --level")
        return None
    if level is None:
        return info.default_level
    low, high = info.levels
    if not low <= level <= high:
        raise UsageError(f"--level {level} is out of range for {name} ({low}..{high})")
    return level


SKIPPABLE_MAGIC = 0x184D2A50  # ..0x184D2A5F: zstd and lz4 skip these frames (pzstd writes one first)
ZSTD_MAGIC, LZ4_MAGIC, LZ4_LEGACY_MAGIC = 0xFD2FB528, 0x184D2204, 0x184C2102


# what an archive's name says about its compression (longest suffix first)
_NAME_CODECS = ((".tar.zst", "zstd"), (".tzst", "zstd"), (".tar.gz", "gzip"), (".tgz", "gzip"),
                (".tar.lz4", "lz4"), (".tar", "none"), (".zst", "zstd"), (".gz", "gzip"), (".lz4", "lz4"))
# names that say a compression cli-recover does not write: refused rather than zstd under their name
_FOREIGN_SUFFIXES = (".xz", ".txz", ".bz2", ".tbz", ".tbz2", ".zip", ".7z", ".lzma", ".lz", ".z", ".br")


def codec_named_by(output: str | None) -> str | None:
    """The codec an output file name says (`x.tar.gz` -> gzip), None for a folder or a plain name;
    UsageError for a compression cli-recover does not write (`x.tar.xz`)."""
    import os
    from pathlib import Path

    from cli_recover.errors import UsageError

    if not output or output.endswith(("/", os.sep)) or Path(output).expanduser().is_dir():
        return None
    lower = output.lower()
    named = next((codec for suffix, codec in _NAME_CODECS if lower.endswith(suffix)), None)
    if named is None and lower.endswith(_FOREIGN_SUFFIXES):
        raise UsageError(f"-o {Path(output).name} names a compression cli-recover does not write; use "
                         ".tar.zst, .tar.gz, .tar.lz4 or .tar")
    return named


def codec_for_output(output: str | None, compression: str | None) -> str:
    """The codec: --compression, else what `-o NAME`'s extension says, else zstd. A name that says
    another codec than --compression is refused (a .tar.gz file must be gzip)."""
    from pathlib import Path

    from cli_recover.errors import UsageError

    named = codec_named_by(output)
    if compression is None:
        return named or "zstd"
    if named is not None and named != compression:
        raise UsageError(f"-o {Path(output).name} names a {named} archive but --compression is {compression}: "
                         "make them agree (or leave --compression out to take it from the name)")
    return compression


def detect_codec(path: str) -> str:
    """The codec of a stored file from its first bytes, as the CLIs see them: skippable frames are
    passed over (pzstd output starts with one), legacy lz4 (`lz4 -l`) is lz4."""
    with open(path, "rb") as f:
        head = f.read(8)
        for _ in range(1024):
            if len(head) < 8 or _le32(head) & 0xFFFFFFF0 != SKIPPABLE_MAGIC:
                break
            f.seek(_le32(head[4:]), os.SEEK_CUR)
            head = f.read(8)
        else:
            return "none"
    magic = _le32(head) if len(head) >= 4 else None
    if magic == ZSTD_MAGIC:
        return "zstd"
    if magic in (LZ4_MAGIC, LZ4_LEGACY_MAGIC):
        return "lz4"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "none"


def _le32(b: bytes) -> int:
    return int.from_bytes(b[:4], "little")


def default_zstd_workers() -> int:
    """zstd worker threads for a backup: one per core (at most 8), with 2 MiB jobs.

    Measured on 2 cores, 1 GB of mixed data: single-threaded zstd in the pipeline's own compress
    thread 3.9 s and 47 MB RSS; 2 workers with 2 MiB jobs 3.4 s and ~100 MB; with 4 MiB jobs 3.3 s
    but up to 160 MB (over the 150 MB budget)."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 8)


class Compressor:
    """compress(chunk) -> bytes; finish() -> bytes. One frame for the whole stream."""

    def __init__(self, name: str, level: int | None, threads: int | None = None):
        self.name = name
        if name == "zstd":
            import zstandard

            workers = threads if threads is not None else default_zstd_workers()
            params = zstandard.ZstdCompressionParameters.from_level(
                level, threads=workers if workers > 1 else 0, write_checksum=True,
                job_size=2 << 20 if workers > 1 else 0,
            )
            self._obj = zstandard.ZstdCompressor(compression_params=params).compressobj()
            self._finish = lambda: self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
            self.compress = self._obj.compress
        elif name == "lz4":
            import lz4.frame

            self._obj = lz4.frame.LZ4FrameCompressor(
                compression_level=level, content_checksum=True, auto_flush=False
            )
            self._header = self._obj.begin()
            self._finish = self._obj.flush
            self.compress = self._lz4_compress
        elif name == "gzip":
            self._obj = zlib.compressobj(level, zlib.DEFLATED, 31)
            self._finish = self._obj.flush
            self.compress = self._obj.compress
        elif name == "none":
            self._finish = lambda: b""
            self.compress = bytes
        else:
            codec_info(name)

    def _lz4_compress(self, data) -> bytes:
        out = self._obj.compress(data)
        if self._header:
            out, self._header = self._header + out, b""
        return out

    def finish(self) -> bytes:
        if self.name == "lz4" and self._header:
            out, self._header = self._header, b""
            return out + self._finish()
        return self._finish()


class Decompressor:
    """The raw bytes of a stored stream, `read(size)` -> at most `size` bytes (b"" at the end).

    `fileobj` is anything with read(n): the compressed bytes are pulled from it as needed, so memory
    is bounded by `size` and the codec's own buffers whatever the compression ratio (a 64 KiB slice of
    zeros is gigabytes). As the CLIs do: concatenated frames/members are read one after another,
    skippable frames skipped, frame checksums checked, zero padding after the last gzip member
    ignored. A corrupted stream raises one IntegrityError, so does one that ends early."""

    def __init__(self, fileobj, name: str):
        codec_info(name)  # the one-line error for an unknown name (or not a name at all)
        self.name = name
        self._src = _Counted(fileobj)
        if name == "zstd":
            try:
                from compression import zstd  # Python 3.14+
            except ImportError:
                from backports import zstd
            self._reader = _Frames(self._src, zstd.ZstdDecompressor)
            self._corrupt: tuple = (zstd.ZstdError,)
        elif name == "lz4":
            import lz4.block
            import lz4.frame

            head = self._src.read(4)
            src = _Unread(self._src, head)
            if len(head) == 4 and _le32(head) == LZ4_LEGACY_MAGIC:
                self._reader = _LegacyLz4(src)
            else:
                self._reader = _Frames(src, lz4.frame.LZ4FrameDecompressor)
            self._corrupt = (RuntimeError, lz4.block.LZ4BlockError)
        elif name == "gzip":
            import gzip

            self._reader = gzip.GzipFile(fileobj=self._src, mode="rb")
            self._corrupt = (gzip.BadGzipFile, zlib.error)
        else:
            self._reader = self._src
            self._corrupt = ()

    @property
    def consumed(self) -> int:
        """Stored (compressed) bytes read so far: the progress of a read through the file."""
        return self._src.count

    def read(self, size: int) -> bytes:
        from cli_recover.errors import IntegrityError

        try:
            data = self._reader.read(size)
        except EOFError:
            raise IntegrityError(f"the {self.name} stream is truncated (it ends before its end-of-frame)") from None
        except self._corrupt as exc:
            raise IntegrityError(f"the {self.name} stream is corrupted ({exc})") from None
        if not data and not self._src.count and self.name != "none":
            raise IntegrityError(f"the {self.name} stream is empty (not even one frame)")
        return data


class _Frames:
    """Frames one after another (zstd, lz4: `decompress(data, max_length)`, `needs_input`, `eof`,
    `unused_data`, as compression.zstd and lz4.frame have it), at most `size` bytes per read. What
    ZstdFile does, with 128 KiB input reads instead of 8 KiB (measured: twice as fast)."""

    IN = 128 << 10

    def __init__(self, f, factory):
        self.f, self.factory = f, factory
        self.d, self.pending = factory(), b""

    def read(self, size: int) -> bytes:
        while True:
            if self.d.eof:  # the next frame starts in what the last one left, or in the file
                rest = self.d.unused_data or self.f.read(self.IN)
                if not rest:
                    return b""
                self.d, self.pending = self.factory(), rest
            if self.pending:
                data, self.pending = self.pending, b""
            elif self.d.needs_input:
                data = self.f.read(self.IN)
                if not data:
                    raise EOFError("the stream ends inside a frame")
            else:
                data = b""  # the decompressor still holds input: more output without reading
            out = self.d.decompress(data, size)
            if out:
                return out


class _Counted:
    def __init__(self, f):
        self.f, self.count = f, 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        return data


class _Unread:
    """fileobj with `head` (already read to look at the magic) put back in front."""

    def __init__(self, f, head: bytes):
        self.f, self.head = f, head

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out, self.head = self.head, b""
            return out
        return self.f.read(n)


class _LegacyLz4:
    """Legacy lz4 frames (`lz4 -l`): the magic, then blocks of a 4-byte size and the compressed block,
    each at most 8 MiB raw; a new magic may start another frame. Read one block at a time."""

    BLOCK = 8 << 20
    BOUND = BLOCK + BLOCK // 255 + 16  # LZ4_compressBound(8 MiB)

    def __init__(self, f):
        self.f = f
        self.buf, self.pos = b"", 0

    def _exact(self, n: int) -> bytes:
        parts, left = [], n
        while left:
            data = self.f.read(left)
            if not data:
                break
            parts.append(data)
            left -= len(data)
        return b"".join(parts)

    def read(self, n: int) -> bytes:
        import lz4.block

        from cli_recover.errors import IntegrityError

        while self.pos >= len(self.buf):
            head = self._exact(4)
            if not head:
                return b""
            if len(head) < 4:
                raise EOFError
            size = _le32(head)
            if size == LZ4_LEGACY_MAGIC:
                continue
            if size > self.BOUND:
                raise IntegrityError(f"the lz4 stream is corrupted (a legacy block of {size} bytes)")
            block = self._exact(size)
            if len(block) < size:
                raise EOFError
            self.buf, self.pos = lz4.block.decompress(block, uncompressed_size=self.BLOCK), 0
        out = self.buf[self.pos : self.pos + n]
        self.pos += len(out)
        return out
