"""A Flask app served by tests/test_serve_frameworks.py."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"


@app.post("/json")
def echo_json():
    data = request.get_json()
    return jsonify(received=data, n=len(data))


@app.get("/cpu")
def cpu():
    n = int(request.args.get("n", "20000"))
    total = 0
    for i in range(n):
        total += i * i % 7
    return jsonify(total=total)


@app.get("/error")
def error():
    raise RuntimeError("flask route failed")


@app.get("/whoami")
def whoami():
    import _interpreters

    return str(_interpreters.get_current()[0])
