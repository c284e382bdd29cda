#!/usr/bin/env python3
"""Raw Argon2id verifications per second on this machine, through the libsodium that the
tollgate binary links (libsodium.so.23, by ctypes), with the server's parameters:
crypto_pwhash_str_alg(..., opslimit=2, memlimit=19 MiB, ARGON2ID13), then
crypto_pwhash_str_verify of a wrong password, which is what a refused login costs.

    argon2-rate.py [--processes N] [--seconds 10]     # N: the cores this process may use

Prints one line: BENCH name=argon2id_raw hashes=... rps=... processes=... seconds=...
"""
import argparse
import ctypes
import ctypes.util
import multiprocessing
import os
import time

OPSLIMIT = 2
MEMLIMIT = 19 * 1024 * 1024


def load_sodium():
    path = ctypes.util.find_library("sodium") or "libsodium.so.23"
    sodium = ctypes.CDLL(path)
    if sodium.sodium_init() < 0:
        raise SystemExit("argon2-rate: sodium_init failed")
    sodium.crypto_pwhash_str_alg.argtypes = [
        ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_ulonglong, ctypes.c_size_t, ctypes.c_int]
    sodium.crypto_pwhash_str_verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong]
    return sodium


def worker(seconds, start, results):
    sodium = load_sodium()
    stored = ctypes.create_string_buffer(sodium.crypto_pwhash_strbytes())
    password = b"the-right-password"
    if sodium.crypto_pwhash_str_alg(stored, password, len(password), OPSLIMIT, MEMLIMIT,
                                     sodium.crypto_pwhash_alg_argon2id13()) != 0:
        raise SystemExit("argon2-rate: crypto_pwhash_str_alg failed")
    wrong = b"a-wrong-password"
    start.wait()
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sodium.crypto_pwhash_str_verify(stored.value, wrong, len(wrong)) == 0:
            raise SystemExit("argon2-rate: a wrong password verified")
        count += 1
    results.put(count)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    start = multiprocessing.Event()
    results = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=worker, args=(args.seconds, start, results))
                 for _ in range(args.processes)]
    for process in processes:
        process.start()
    time.sleep(0.5)
    began = time.monotonic()
    start.set()
    total = sum(results.get() for _ in processes)
    elapsed = time.monotonic() - began
    for process in processes:
        process.join()
    print(f"BENCH name=argon2id_raw hashes={total} rps={total / elapsed:.1f} processes={args.processes} "
          f"seconds={elapsed:.1f}")


if __name__ == "__main__":
    main()
