"""The Flask application of the ``serve`` benchmark: the same module for every server.

Routes: ``/`` (hello) and ``/cpu`` (a CPU-bound handler: pure-Python arithmetic, about
2-4 ms on one core).
"""

from flask import Flask

app = Flask(__name__)

CPU_LOOPS = 30_000


@app.get("/")
def hello():
    return "Hello, World!"


@app.get("/cpu")
def cpu():
    total = 0
    for i in range(CPU_LOOPS):
        total += i * i % 7
    return str(total)
