"""`python -m steward [serve]` starts the app on 127.0.0.1:PREFAB_STEWARD_PORT (default 8765);
`python -m steward add-user NAME --role steward|viewer` adds or updates a user, prompting for the password
(or reading one line from standard input with `--password-stdin`, for scripts)."""

from __future__ import annotations

import argparse
import getpass
import sys

from foundation.config import settings as current_settings
from steward.auth import ROLES, add_user


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steward", description="The data stewards' web app.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="start the app (the default)")
    p = sub.add_parser("add-user", help="add a user (or change its role and password)")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    s = current_settings()
    if args.command == "add-user":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("error: the passwords differ", file=sys.stderr)
                return 2
        try:
            add_user(s.steward_users_path, args.name, args.role, password)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.name} ({args.role}) written to {s.steward_users_path}")
        return 0

    from steward.app import ConfigurationError, create_app

    try:
        app = create_app(s)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    import uvicorn

    print(f"steward app on http://{s.steward_host}:{s.steward_port}/ (data: {s.data_dir})")
    uvicorn.run(app, host=s.steward_host, port=s.steward_port, log_level="info", proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
