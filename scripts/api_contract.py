"""Driver of scripts/api-contract: starts a platform, enrols an agency, runs schemathesis.

Usage (from scripts/api-contract): python api_contract.py PLATFORM_BIN SECONDS ST_BIN
"""

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def start_platform(binary, data_dir, log_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_") and k != "DATABASE_URL"}
    env.update({"PLATFORM_LOG_FORMAT": "json", "PLATFORM_LOG": "info"})
    args = [binary, "--data-dir", data_dir, "--web-listen", "127.0.0.1:0",
            "--agency-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    out = open(log_path, "w")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = {}
    done = threading.Event()

    def pump():
        for line in proc.stdout:
            out.write(line)
            out.flush()
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                continue
            if fields.get("message") == "platform ready" and not done.is_set():
                ready.update(fields)
                done.set()
        done.set()

    threading.Thread(target=pump, daemon=True).start()
    if not done.wait(120) or not ready:
        proc.kill()
        raise SystemExit(f"the platform did not start; its log is {log_path}")
    return proc, ready


def cli(binary, data_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_") and k != "DATABASE_URL"}
    result = subprocess.run([binary, "--data-dir", data_dir, *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"platform {' '.join(args)} failed: {result.stderr}")
    return json.loads(result.stdout)


def main():
    binary, budget, st = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    work = tempfile.mkdtemp(prefix="api-contract-")
    data_dir = os.path.join(work, "data")
    proc = None
    try:
        proc, ready = start_platform(binary, data_dir, os.path.join(work, "platform.log"))
        agency = f"https://{ready['agency']}"
        log(f"platform ready: agency API at {agency}")
        added = cli(binary, data_dir, "agency", "add", "--name", "Contract Homes",
                    "--licence", "AMI-CONTRACT", "--email", "desk@contract.example", "--json")
        # The root, fetched without verification, then checked against the fingerprint the
        # operator's command printed (as a desk does).
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        root_pem = urllib.request.urlopen(f"{agency}/ca/root.pem", context=insecure).read().decode()
        root = os.path.join(work, "root.pem")
        open(root, "w").write(root_pem)
        der = ssl.PEM_cert_to_DER_cert(root_pem)
        import hashlib
        fingerprint = hashlib.sha256(der).hexdigest()
        printed = added["ca_fingerprint"].replace(":", "").lower()
        if printed != fingerprint:
            raise SystemExit(f"served root {fingerprint} is not the CLI's {printed}")
        key, csr = os.path.join(work, "key.pem"), os.path.join(work, "csr.pem")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-subj", "/CN=contract-desk", "-out", csr],
                       check=True, capture_output=True)
        trusted = ssl.create_default_context(cafile=root)
        trusted.check_hostname = False
        body = json.dumps({"token": added["token"], "csr": open(csr).read()}).encode()
        request = urllib.request.Request(f"{agency}/api/v1/enroll", data=body,
                                         headers={"Content-Type": "application/json"})
        enrolled = json.loads(urllib.request.urlopen(request, context=trusted).read())
        cert = os.path.join(work, "cert.pem")
        open(cert, "w").write(enrolled["certificate"])
        log(f"enrolled agency {enrolled.get('agency_id')} (certificate {enrolled.get('serial')})")
        config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")
        command = [st, "--config-file", config, "run", f"{agency}/api/openapi.json", "--checks", "all",
                   "--tls-verify", root, "--request-cert", cert, "--request-cert-key", key,
                   "--max-time", str(budget), "--workers", "2", "--no-color"]
        log(" ".join(command))
        status = subprocess.run(command, cwd=work).returncode
        if status != 0:
            log(f"schemathesis reported failures (exit {status}); the platform's log: {work}/platform.log")
            keep = os.environ.get("API_CONTRACT_KEEP")
            if keep:
                shutil.copy(os.path.join(work, "platform.log"), keep)
        return status
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
