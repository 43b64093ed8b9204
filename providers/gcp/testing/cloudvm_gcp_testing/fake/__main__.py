"""``python -m cloudvm_gcp_testing.fake [--port N] [--roles]``: serve the fake until interrupted."""

from __future__ import annotations

import argparse
import contextlib

from cloudvm_gcp_testing import fake_compute_engine


def main() -> None:
    parser = argparse.ArgumentParser(description="An offline Compute Engine v1 API on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--roles", action="store_true",
                        help="hold callers without a token to cloudvm's shipped roles (cloudvm_gcp/permissions)")
    args = parser.parse_args()
    with fake_compute_engine(port=args.port, enforce=args.roles) as fake:
        print(fake.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            fake.thread.join()


if __name__ == "__main__":
    main()
