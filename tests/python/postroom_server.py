"""Start and stop Postroom server processes for the end-to-end tests."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0


def postgres_url() -> str | None:
    """Return the test database URL when the suite runs on PostgreSQL."""
    if os.environ.get("POSTROOM_TEST_STORE") != "postgres":
        return None
    return os.environ.get("POSTROOM_TEST_DATABASE_URL") or None


def postroom_binary() -> Path:
    """Return the server binary: POSTROOM_BIN, else target/debug/postroom in the repository."""
    configured = os.environ.get("POSTROOM_BIN")
    binary = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "postroom"
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.is_file():
        raise FileNotFoundError(
            f"postroom binary not found at {binary}: run `cargo build -p postroom` "
            "or set POSTROOM_BIN to the binary's path"
        )
    return binary


class PostroomServer:
    """One `postroom serve` process listening on a free port of 127.0.0.1.

    The process writes its log to `server.log` in the data directory. `stop`
    and `kill` signal this process by its PID only. `options` are appended to
    the command line.
    """

    def __init__(self, data_dir: Path, *, in_memory: bool, manual_clock: bool, options: Sequence[str] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.in_memory = in_memory
        self.manual_clock = manual_clock
        self.options = list(options)
        self.process: subprocess.Popen | None = None
        self.address: str | None = None
        self._log_file = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def address_path(self) -> Path:
        return self.data_dir / "postroom.addr"

    def command(self) -> list[str]:
        command = [
            str(postroom_binary()),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "info",
        ]
        database_url = postgres_url()
        if database_url:
            # One schema per data directory, so a restart on the same
            # directory finds its state again.
            digest = hashlib.sha1(str(self.data_dir.resolve()).encode()).hexdigest()[:16]
            command += ["--store", "postgres", "--database-url", database_url]
            command += ["--database-schema", f"py_{digest}", "--database-pool-size", "4"]
        elif self.in_memory:
            command.append("--in-memory")
        if self.manual_clock:
            command += ["--clock", "manual"]
        return command + self.options

    def start(self) -> "PostroomServer":
        """Start the process and wait until its health endpoint returns 200."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A file left by an earlier process would point at a dead port.
        self.address_path.unlink(missing_ok=True)
        self._log_file = open(self.log_path, "ab")
        # The server also reads POSTROOM_* variables, so drop them to let only the flags decide.
        environment = {key: value for key, value in os.environ.items() if not key.startswith("POSTROOM_")}
        self.process = subprocess.Popen(
            self.command(),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            self.address = self._wait_for_address()
            self._wait_for_health()
        except BaseException:
            self.kill()
            raise
        return self

    def _check_running(self) -> None:
        assert self.process is not None
        exit_code = self.process.poll()
        if exit_code is not None:
            raise RuntimeError(
                f"postroom exited with code {exit_code} during startup; log:\n{self.log_tail()}"
            )

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._check_running()
            if self.address_path.is_file():
                address = self.address_path.read_text().strip()
                if address:
                    return address
            time.sleep(0.05)
        raise TimeoutError(
            f"postroom did not write {self.address_path} within "
            f"{STARTUP_TIMEOUT_SECONDS} s; log:\n{self.log_tail()}"
        )

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._check_running()
            try:
                response = requests.get(f"{self.endpoint}/_postroom/health", timeout=2)
                if response.status_code == 200:
                    return
                last_error = RuntimeError(f"health returned HTTP {response.status_code}")
            except requests.RequestException as error:
                last_error = error
            time.sleep(0.05)
        raise TimeoutError(
            f"postroom at {self.endpoint} was not healthy within {STARTUP_TIMEOUT_SECONDS} s "
            f"(last error: {last_error}); log:\n{self.log_tail()}"
        )

    def stop(self, signal_number: int = signal.SIGTERM) -> int:
        """Send SIGTERM (or `signal_number`), wait for the exit and return the exit code.

        Falls back to SIGKILL when the process has not exited within
        STOP_TIMEOUT_SECONDS, and then raises TimeoutError.
        """
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
                raise TimeoutError(
                    f"postroom (PID {self.process.pid}) did not exit within "
                    f"{STOP_TIMEOUT_SECONDS} s of signal {signal_number} and was killed"
                ) from None
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        """Send SIGKILL and wait for the process to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def health(self) -> dict:
        response = requests.get(f"{self.endpoint}/_postroom/health", timeout=5)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        response = requests.post(f"{self.endpoint}/_postroom/reset", timeout=10)
        response.raise_for_status()

    def advance_clock(self, seconds: float) -> int:
        """Move the manual clock forward and return the new time in ms since the epoch."""
        response = requests.post(
            f"{self.endpoint}/_postroom/clock", json={"advance_seconds": seconds}, timeout=10
        )
        response.raise_for_status()
        return response.json()["now_ms"]

    def clock_now_ms(self) -> int:
        response = requests.get(f"{self.endpoint}/_postroom/clock", timeout=10)
        response.raise_for_status()
        return response.json()["now_ms"]
