"""Work that needs non-isolated extensions (Pillow / numpy), measured in one run:

- the image scenario done the way users write it (Pillow per image: decode-like setup,
  Gaussian blur, downsize, checksum; numpy when Pillow is missing) through
  ``manygil.Pool(fallback="process")`` against ``concurrent.futures.ProcessPoolExecutor``
  (forkserver) of the same size: the same speed is expected (the tasks run in processes in
  both), ratio = manygil time / executor time;
- moving a 64 MiB image to a process worker: a ``manygil.SharedBuffer`` (its memory file
  is sent, O(1)) against the same bytes pickled, through the same pool; and a 1 MiB
  SharedBuffer to show the cost does not grow with the size.

    python bench/bench_extensions.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import statistics
import sys
import time
import warnings

import manygil

try:  # the user's script imports its imaging library at the top, as usual
    from PIL import Image, ImageFilter
except ImportError:  # pragma: no cover - numpy fallback
    Image = None
import numpy as np


def process_image(index: int, size: int) -> str:
    """One image: make it (deterministic noise), blur, downsize by two, checksum."""
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    if Image is not None:
        img = Image.fromarray(pixels, "RGB").filter(ImageFilter.GaussianBlur(2))
        out = img.resize((size // 2, size // 2), Image.Resampling.BILINEAR).tobytes()
    else:
        f = pixels.astype(np.float32)
        blurred = (f[:-2, 1:-1] + f[1:-1, 1:-1] + f[2:, 1:-1] + f[1:-1, :-2] + f[1:-1, 2:]) / 5
        out = blurred[::2, ::2].astype(np.uint8).tobytes()
    return hashlib.sha256(out).hexdigest()[:16]


def touch(buf) -> int:
    """Read the first and last bytes through numpy (the data is there, not copied)."""
    view = np.frombuffer(buf, dtype=np.uint8)
    return int(view[0]) + int(view[-1])


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_images(workers: int, images: int, size: int, repeats: int) -> dict:
    expected = [process_image(i, size) for i in range(2)]
    ctx = multiprocessing.get_context("forkserver")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", manygil.FallbackWarning)
        with manygil.Pool(workers, fallback="process") as pool:
            got = list(pool.map(process_image, range(2), [size] * 2))  # start the workers
            assert got == expected, "manygil results differ"

            def run_pool():
                list(pool.map(process_image, range(images), [size] * images))

            t_pool = _median_time(run_pool, repeats)
            fallback = pool.stats()["fallback"]
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        assert list(ex.map(process_image, range(2), [size] * 2)) == expected

        def run_ex():
            list(ex.map(process_image, range(images), [size] * images))

        t_ex = _median_time(run_ex, repeats)
    return {"pool": t_pool, "executor": t_ex, "fallback_tasks": fallback}


def bench_big_image(workers: int, repeats: int) -> dict:
    big = 64 << 20
    data = bytes(range(256)) * (big // 256)
    shared = manygil.SharedBuffer.from_bytes(data)
    small = manygil.SharedBuffer.from_bytes(data[: 1 << 20])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", manygil.FallbackWarning)
        with manygil.Pool(workers, fallback="process") as pool:
            assert pool.submit(touch, small).result() == touch(small)  # start, bind to processes
            out = {}
            for name, arg in (
                ("shared_64MiB", shared),
                ("shared_1MiB", small),
                ("bytes_64MiB", data),
            ):
                assert pool.submit(touch, arg).result() == touch(arg)
                out[name] = _median_time(lambda a=arg: pool.submit(touch, a).result(), repeats)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer and smaller images")
    args = ap.parse_args(argv)
    workers = min(os.cpu_count() or 1, 4)
    images, size, repeats = (16, 256, 3) if args.quick else (48, 512, 5)
    lib = "Pillow" if Image is not None else "numpy"
    print(f"Python {sys.version.split()[0]}; {workers} workers; medians of {repeats}")
    r = bench_images(workers, images, size, repeats)
    print(f"\nimage scenario ({images} images {size}x{size}, {lib} per image, seconds)")
    print(f"  ProcessPoolExecutor (forkserver)        {r['executor']:8.3f}")
    print(f"  manygil.Pool(fallback='process')        {r['pool']:8.3f}")
    print(f"  ratio manygil / executor                {r['pool'] / r['executor']:8.2f}x")
    print(f"  (tasks and chunks run in processes: {r['fallback_tasks']})")
    b = bench_big_image(workers, repeats * 2)
    print("\nmoving an image to a process worker (submit + result, milliseconds)")
    for name, seconds in b.items():
        print(f"  {name:38} {seconds * 1e3:10.2f}")
    print(
        f"  ratio bytes 64 MiB / SharedBuffer 64 MiB {b['bytes_64MiB'] / b['shared_64MiB']:8.1f}x"
    )
    print(f"  ratio SharedBuffer 64 MiB / 1 MiB       {b['shared_64MiB'] / b['shared_1MiB']:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
