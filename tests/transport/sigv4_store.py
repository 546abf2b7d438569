#!/usr/bin/env python3
"""A stand-in S3 endpoint that checks what s3rver does not: each request's
AWS Signature V4 (recomputed here from the AWS specification, independently
of libcurl) and its x-amz-content-sha256 against the body received. A valid
request gets a plausible S3 answer (an UploadId, an ETag); an invalid one
the error S3 would give. Used by tests/transport/s3_client_test.cc.

    sigv4_store.py PORT ACCESS_KEY SECRET_KEY
"""
import hashlib
import hmac
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, ACCESS_KEY, SECRET_KEY = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def quote(text):
    return urllib.parse.quote(text, safe="-_.~")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, code="", body=b"", headers=()):
        if code:
            body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def check(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "AccessDenied"
        fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        key, date, region, service, _ = fields["Credential"].split("/")
        if key != ACCESS_KEY:
            return "InvalidAccessKeyId"
        payload = self.headers.get("x-amz-content-sha256", "")
        if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
            return "XAmzContentSHA256Mismatch"
        path, _, query = self.path.partition("?")
        pairs = sorted(
            (quote(urllib.parse.unquote(k)), quote(urllib.parse.unquote(v)))
            for k, _, v in (item.partition("=") for item in query.split("&") if item)
        )
        signed = fields["SignedHeaders"].split(";")
        canonical = "\n".join(
            [
                self.command,
                path,
                "&".join(f"{k}={v}" for k, v in pairs),
                "".join(f"{h}:{' '.join(self.headers.get(h, '').split())}\n" for h in signed),
                fields["SignedHeaders"],
                payload,
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                self.headers.get("x-amz-date", ""),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        signing = hmac_sha256(("AWS4" + SECRET_KEY).encode(), date)
        for part in (region, service, "aws4_request"):
            signing = hmac_sha256(signing, part)
        expected = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
        if "host" not in signed or not hmac.compare_digest(expected, fields["Signature"]):
            return "SignatureDoesNotMatch"
        return ""

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        error = self.check(body)
        if error:
            self.answer(400 if error == "XAmzContentSHA256Mismatch" else 403, error)
        elif self.command == "POST" and "uploads" in self.path:
            self.answer(200, body=b"<InitiateMultipartUploadResult><UploadId>u-1</UploadId>"
                        b"</InitiateMultipartUploadResult>")
        else:
            self.answer(200, headers=[("ETag", '"e"'), ("Content-Type", "application/xml")])

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
