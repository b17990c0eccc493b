"""Serve a tenant simulator of any size: `python -m bench.simserver --users 50 --messages 2000`.

`graphsync simulator serve` only knows the named scales; the benchmark needs custom ones (5x2000 for
the memory-scaling point). Prints the client settings as KEY=value lines, then READY, then serves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.simulator.content import Scale
from connectors.simulator.server import Endpoints, Simulator
from connectors.simulator.tenant import TenantConfig


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simserver")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True, help="messages per mailbox")
    parser.add_argument("--state-dir", required=True, help="where the CA certificate is written")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    config = TenantConfig(seed=args.seed, scale=Scale(users=args.users, messages_per_mailbox=args.messages))
    simulator = Simulator(config, state_dir=Path(args.state_dir), port=args.port)

    def announce(endpoints: Endpoints) -> None:
        for key, value in endpoints.env().items():
            print(f"{key}={value}")
        print(f"SIM_ORIGIN={endpoints.origin}")
        print("READY", flush=True)

    simulator.serve_forever(on_ready=announce)


if __name__ == "__main__":
    main()
