#!/usr/bin/python3
"""smtp_sink -- a local SMTP server for folio's mail tests (aiosmtpd).

usage: smtp_sink.py PORT DIR [--reject-all | --tempfail] [--discard]

Listens on 127.0.0.1:PORT (0: any free port) and prints "READY PORT" on
stdout once it accepts connections. Every message received is saved as
DIR/NNNNNN.eml (the bytes as sent, written to a temporary name and renamed,
so a file that exists is whole) with DIR/NNNNNN.rcpt beside it: the
envelope, "MAIL FROM" on the first line, then one RCPT TO per line.

  --reject-all  answer every RCPT TO with 550 (a permanent refusal)
  --tempfail    answer every DATA with 451 (try again later)
  --discard     save nothing; count messages in DIR/count, written on exit
                (for benchmarks)

Stops on SIGTERM or SIGINT. tests/integration/lib.sh wraps it:
smtp_sink_start DIR [options] sets SMTP_PORT, smtp_sink_stop ends it.
"""
import asyncio
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, outdir, reject, tempfail, discard):
        self.outdir, self.reject, self.tempfail = outdir, reject, tempfail
        self.discard, self.n = discard, 0

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.reject:
            return "550 5.1.1 mailbox unavailable (smtp_sink --reject-all)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfail:
            return "451 4.3.0 try again later (smtp_sink --tempfail)"
        self.n += 1
        if self.discard:
            return "250 OK"
        base = os.path.join(self.outdir, "%06d" % self.n)
        rcpt = "".join(r + "\n" for r in [envelope.mail_from] + envelope.rcpt_tos)
        for ext, data in ((".rcpt", rcpt.encode()), (".eml", envelope.original_content)):
            with open(base + ext + ".tmp", "wb") as f:
                f.write(data)
            os.rename(base + ext + ".tmp", base + ext)
        return "250 OK"


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = set(a for a in argv if a.startswith("--"))
    if len(args) != 2 or not flags <= {"--reject-all", "--tempfail", "--discard"}:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    port, outdir = int(args[0]), args[1]
    sink = Sink(outdir, "--reject-all" in flags, "--tempfail" in flags,
                "--discard" in flags)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(sink, hostname="smtp-sink.test", decode_data=False),
        "127.0.0.1", port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY %d" % server.sockets[0].getsockname()[1], flush=True)
    loop.run_until_complete(stop.wait())
    server.close()
    if sink.discard:
        with open(os.path.join(outdir, "count"), "w") as f:
            f.write("%d\n" % sink.n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
