"""The peers' timing loop, shared by bench/peers.py (CPU) and bench/gpu_peers.py (GPU)."""
import gc
import statistics
import time


def measure(fn, min_time, warmup_time, sync=None, reset=None, target_batch_s=1e-3):
    """Median/min per-call microseconds of fn().

    Warm-up calls run for warmup_time (at least 10); then batches of k calls, k sized from the
    warm-up so that a batch takes about target_batch_s, until min_time has passed (at least 10
    calls). reset() runs before each batch, outside the timing; sync() (a device wait) runs after
    each call of the warm-up and after each batch, inside the timing. The garbage collector is off
    while timing."""
    sync = sync or (lambda: None)
    gc.collect()
    gc.disable()
    try:
        clock = time.perf_counter
        warm = []
        start = clock()
        while len(warm) < 10 or clock() - start < warmup_time:
            t = clock()
            fn()
            sync()
            warm.append(clock() - t)
        estimate = statistics.median(warm[len(warm) // 2:])
        target = min(target_batch_s, min_time / 20)
        k = max(1, int(target / estimate)) if estimate > 0 else 1
        samples, runs, total = [], 0, 0.0
        while total < min_time or runs < 10:
            if reset is not None:
                reset()
            sync()
            t = clock()
            for _ in range(k):
                fn()
            sync()
            dt = clock() - t
            samples.append(dt / k)
            runs += k
            total += dt
    finally:
        gc.enable()
    return {"median_us": round(statistics.median(samples) * 1e6, 3),
            "min_us": round(min(samples) * 1e6, 3),
            "runs": runs, "samples": len(samples), "batch": k}
