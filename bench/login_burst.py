"""Sign-in under a burst of wrong passwords: memory and time of the login path with Argon2 (the
production hasher, 100 MiB per hash), without and with the Redis throttle, in one run.

Usage:
    .venv/bin/python bench/login_burst.py          # 48 + 48 + 1,000 requests from 12 threads
    .venv/bin/python bench/login_burst.py --concurrency 12 --locked-requests 2000

Each scenario runs in a process of its own. Its N threads first make one refused attempt each on
an account locked beforehand (so threads, database connections and allocator arenas exist); the
resident memory then is the baseline. Then the burst, each thread in turn, through Django's test
client (URL routing, DRF, the throttle in Redis, the audit row, the hasher; no HTTP socket),
while a sampler reads the resident memory (VmRSS) every 2 ms; its highest value is the peak:

- unthrottled: limits raised out of reach (LOGIN_ATTEMPTS_PER_* = 10^9): every attempt hashes,
  what issue 10 found (12 parallel logins took a web process from 160 MB to 1.2 GB);
- throttled: the defaults (5 per account, 20 per address; each thread its own address): the
  first 5 attempts hash, the rest are refused before hashing;
- locked: an account that has already used its 5 attempts (in the parent process) under a long
  burst: nothing hashes, which is the state a sustained attack meets.

The database is a temporary one (created, migrated and dropped by this script); Redis is the
settings' Redis (the bench's keys are removed afterwards). Settings: apextrade.settings.dev with
DEBUG off.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

PASSWORD = "bench passphrase 0123456789"


def resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def count_hashes() -> list[int]:
    """Count every Argon2 hash computed in this process (checking or making a password)."""
    from django.contrib.auth.hashers import Argon2PasswordHasher

    counter = [0]
    lock = threading.Lock()
    encode, verify = Argon2PasswordHasher.encode, Argon2PasswordHasher.verify

    def counted(function):
        def wrapper(*args, **kwargs):
            with lock:
                counter[0] += 1
            return function(*args, **kwargs)

        return wrapper

    Argon2PasswordHasher.encode = counted(encode)
    Argon2PasswordHasher.verify = counted(verify)
    return counter


def child(scenario: str, email: str, warm_email: str, requests: int, concurrency: int) -> None:
    import django

    django.setup()
    from django.db import connections
    from django.test import Client

    hashes = count_hashes()
    statuses: list[int] = []
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = requests // concurrency
    warmed = threading.Barrier(concurrency + 1)
    go = threading.Barrier(concurrency + 1)

    def attempt(client: Client, address: str, to: str) -> int:
        return client.post(
            "/api/v1/auth/login/",
            {"email": to, "password": "wrong password"},
            content_type="application/json",
        ).status_code

    def attempts(number: int) -> None:
        address = f"198.51.100.{number + 1}"
        client = Client(REMOTE_ADDR=address)
        try:
            # Warm-up: one refused attempt on an account locked beforehand, so that the thread,
            # its database connection and its allocator arena exist before the baseline.
            attempt(client, address, warm_email)
            warmed.wait()
            go.wait()
            for _ in range(per_thread):
                began = time.perf_counter()
                status = attempt(client, address, email)
                with lock:
                    statuses.append(status)
                    latencies.append(time.perf_counter() - began)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempts, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    warmed.wait()
    hashes_before = hashes[0]
    baseline = resident_kib()
    peak = [baseline]
    burst_over = threading.Event()

    def sample() -> None:
        while not burst_over.is_set():
            peak[0] = max(peak[0], resident_kib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    go.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    burst_over.set()
    sampler.join()
    print(
        json.dumps(
            {
                "scenario": scenario,
                "requests": len(statuses),
                "refused_429": statuses.count(429),
                "wrong_400": statuses.count(400),
                "hashes": hashes[0] - hashes_before,
                "baseline_mib": baseline / 1024,
                "peak_mib": peak[0] / 1024,
                "seconds": elapsed,
                "median_ms": statistics.median(latencies) * 1000,
                "requests_per_second": len(statuses) / elapsed,
            }
        )
    )


def run_child(scenario: str, emails: dict, requests: int, concurrency: int, env: dict) -> dict:
    email = emails["free" if scenario == "unthrottled" else scenario]
    result = subprocess.run(
        [sys.executable, __file__, "--child", scenario, "--email", email,
         "--warm-email", emails["warm"], "--requests", str(requests),
         "--concurrency", str(concurrency)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"{scenario} failed:\n{result.stderr[-3000:]}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    if row["wrong_400"] + row["refused_429"] != row["requests"]:
        raise SystemExit(f"{scenario}: answers other than 400 and 429:\n{result.stderr[-3000:]}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child")
    parser.add_argument("--email")
    parser.add_argument("--warm-email")
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--locked-requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=12)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.email, args.warm_email, args.requests, args.concurrency)
        return

    import django

    django.setup()
    from django.conf import settings
    from django.db import connections
    from django.test import Client
    from django.test.utils import setup_databases, teardown_databases
    from django_redis import get_redis_connection

    from accounts.models import User

    run = uuid.uuid4().hex[:8]
    database = f"test_apextrade_bench_{os.getpid()}"
    connections["default"].settings_dict["TEST"]["NAME"] = database
    print(f"Creating and migrating the temporary database {database} ...", flush=True)
    old_config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    emails = {
        name: f"bench-{name}-{run}@apextrade.local"
        for name in ("free", "throttled", "locked", "warm")
    }
    try:
        for email in emails.values():
            User.objects.create_user(email=email, password=PASSWORD, is_verified=True)
        for name in ("locked", "warm"):  # these accounts use up their attempts here
            for number in range(settings.LOGIN_ATTEMPTS_PER_ACCOUNT):
                Client(REMOTE_ADDR=f"192.0.2.{number + 1}").post(
                    "/api/v1/auth/login/",
                    {"email": emails[name], "password": "wrong"},
                    content_type="application/json",
                )
        connections.close_all()
        config = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{config['USER']}@{config['HOST']}:{config['PORT']}/"
            f"{database}",
        }
        unlimited = {**env, "LOGIN_ATTEMPTS_PER_ACCOUNT": "1000000000",
                     "LOGIN_ATTEMPTS_PER_ADDRESS": "1000000000"}  # fmt: skip
        results = [
            run_child("unthrottled", emails, args.requests, args.concurrency, unlimited),
            run_child("throttled", emails, args.requests, args.concurrency, env),
            run_child("locked", emails, args.locked_requests, args.concurrency, env),
        ]
    finally:
        connections.close_all()
        teardown_databases(old_config, verbosity=0)
        redis = get_redis_connection("default")
        for key in redis.scan_iter("login_attempts:*"):
            redis.delete(key)  # only this run's: the accounts' digests and the bench addresses

    print(
        f"\n{args.concurrency} threads; Argon2 memory_cost 100 MiB; machine load affects the "
        "absolute numbers, compare within the run.\n"
    )
    header = ("scenario", "requests", "hashed", "429", "baseline MiB", "peak MiB",
              "peak/baseline", "median ms", "req/s")  # fmt: skip
    print(" | ".join(header))
    for row in results:
        print(
            f"{row['scenario']} | {row['requests']} | {row['hashes']} | {row['refused_429']} | "
            f"{row['baseline_mib']:.0f} | {row['peak_mib']:.0f} | "
            f"{row['peak_mib'] / row['baseline_mib']:.2f} | {row['median_ms']:.1f} | "
            f"{row['requests_per_second']:.0f}"
        )
    free, _, locked = results
    growth = {row["scenario"]: row["peak_mib"] - row["baseline_mib"] for row in results}
    print(
        f"\nlocked vs unthrottled: peak memory growth {growth['locked']:.0f} MiB vs "
        f"{growth['unthrottled']:.0f} MiB; median latency "
        f"{free['median_ms'] / locked['median_ms']:.0f}x lower; throughput "
        f"{locked['requests_per_second'] / free['requests_per_second']:.0f}x higher"
    )


if __name__ == "__main__":
    main()
