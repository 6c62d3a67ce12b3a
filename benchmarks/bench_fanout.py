"""Fan-out benchmark: `cspkit subscriptions cancellable` over 1,000 customers against the emulator's rate limit.

The emulator throttles per partner tenant with a sliding window over wall-clock time (429 + Retry-After when over).
Partner Center documents 500 requests/minute; to finish in reasonable time this benchmark raises the emulator's
limit to **3,000 requests/minute**, enforced as 500 requests per 10-second sliding window (the same rate; a shorter
window so that 1,000+ requests actually press against it), and runs the client limiter at **95 %** of it
(2,850/minute) with a burst of 5 tokens: 5 + 475 per window leaves 20 requests (0.4 s) of headroom for the
jitter between when a request leaves the client and when the emulator counts it. Worker threads (16) share the one
client and its token bucket.

Each customer costs one ``GET /customers/{id}/subscriptions`` (the path the emulator counts). 50 of the 1,000
customers hold a subscription bought beforehand: 40 bought 14 days ago (window closed), 10 bought 6 days ago
(still inside their 7-day cancellation window).

Figures: requests, wall time, achieved rate as a fraction of the limit, 429s received (client and emulator side).

Run:  .venv/bin/python benchmarks/bench_fanout.py [--customers 1000] [--limit 3000] [--share 0.95] [--workers 16]
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=3000, help="emulator limit, requests per minute")
    parser.add_argument("--window", type=float, default=10.0, help="emulator sliding window, seconds")
    parser.add_argument("--share", type=float, default=0.95, help="client limiter as a share of the limit")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    from cspkit.client import PartnerCenter
    from cspkit.emulator import EmulatorServer
    from cspkit.emulator.models import CartLine
    from cspkit.workflows.ordering import cancellable_subscriptions
    from cspkit.workflows.ratelimit import RateLimitedSession, TokenBucket

    per_window = int(args.limit * args.window / 60)
    emu = EmulatorServer(rate_limit=per_window).start()
    emu.rate_limiter.configure(limit=per_window, window_seconds=args.window)
    backend = emu.backend
    backend.seed(customers=[{"companyName": f"Fan-out Customer {i:04d}", "domain": f"fanout{i:04d}",
                             "country": "US"} for i in range(args.customers - len(backend.customers))])
    customer_ids = list(backend.customers)[: args.customers]
    for n, customer_id in enumerate(customer_ids[:50]):  # some subscriptions to find, bought on two dates
        if n == 40:
            emu.clock.advance(days=8)
        cart = backend.create_cart(customer_id, lines=[CartLine(id=0, catalog_item_id="CFQ7TTC0LH18:0001:CFQ7TTC0K59J",
                                                                quantity=3, billing_cycle="monthly",
                                                                term_duration="P1M")])
        backend.checkout_cart(customer_id, cart.id)
    emu.clock.advance(days=6)  # the first 40 are 14 days old (window closed), the last 10 six days old (inside)

    client_rate = args.limit * args.share
    burst = max(1, int(per_window * 0.01))
    bucket = TokenBucket(client_rate, burst=burst)
    pc = PartnerCenter(endpoint=emu.url, access_token=emu.token, session=RateLimitedSession(bucket))
    started = time.perf_counter()
    found, failures = cancellable_subscriptions(pc, customer_ids, workers=args.workers, clock=emu.clock.now)
    wall = time.perf_counter() - started
    stats = pc.transport.stats
    emulator_429 = sum(1 for f in emu.faults.log if f["ruleId"] == "rate-limit")
    emu.stop()

    achieved = stats["attempts"] / wall * 60
    print(f"customers            {len(customer_ids)}")
    print(f"emulator limit       {args.limit}/min ({per_window} per {args.window:g} s sliding window)")
    print(f"client limiter       {client_rate:.0f}/min ({args.share:.0%}), burst {burst}, {args.workers} workers")
    print(f"requests             {stats['attempts']} HTTP attempts for {stats['calls']} calls")
    print(f"wall time            {wall:.1f} s")
    print(f"achieved rate        {achieved:.0f}/min = {achieved / args.limit:.1%} of the limit")
    print(f"429s received        {stats['throttled']} (emulator counted {emulator_429})")
    print(f"cancellable found    {len(found)} (expected 10); failures {len(failures)}")
    ok = stats["throttled"] == 0 and achieved / args.limit >= 0.90 and len(found) == 10 and not failures
    print("RESULT               " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
