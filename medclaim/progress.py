"""Progress of a long run (reading, settling, writing; rows done and rate).

The library reports to a ``Progress``; the command line gives a ``RichProgress`` only when
stderr is a terminal and the run is not ``--quiet``, so pipes, cron and logs never see it.  The
display is transient: it disappears when the run ends and leaves only the summary.  It starts
with the first stage, not before: a Spark run starts its JVM (which may print to the terminal)
before it reports a stage.
"""

from __future__ import annotations


class Progress:
    """Reports nowhere (the library default)."""

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage begins (``name`` is a label key: reading, settling, writing)."""

    def advance(self, rows: int) -> None:
        """``rows`` more rows done in the current stage."""

    def close(self) -> None:
        pass


NONE = Progress()


class RichProgress(Progress):
    """A rich.progress display on stderr: stage, bar (when the total is known), rows, rate, time."""

    def __init__(self, lang: str = "zh"):
        from rich.console import Console
        from rich.progress import BarColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        from .labels import load_labels

        self.L = load_labels(lang)
        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = None
        self.started = False

    def stage(self, name: str, total: int | None = None) -> None:
        if not self.started:
            self.bar.start()
            self.started = True
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(self.L(f"progress.{name}"), total=total, rows="", rate="")
        self.bar.refresh()  # drawn at once: a stage may be over before the next timed refresh

    def advance(self, rows: int) -> None:
        if self.task is None:
            return
        self.bar.advance(self.task, rows)
        t = self.bar.tasks[-1]
        done = int(t.completed)
        rows_text = f"{done:,}" + (f"/{int(t.total):,}" if t.total else "")
        speed = t.speed
        self.bar.update(self.task, rows=self.L("progress.rows", rows=rows_text),
                        rate=self.L("progress.rate", rate=f"{speed:,.0f}") if speed else "")

    def close(self) -> None:
        if self.started:
            self.bar.stop()


def for_terminal(quiet: bool, lang: str = "zh") -> Progress:
    """A live display when a person is watching (stderr is a terminal, not --quiet), else nothing."""
    import sys

    if quiet or not sys.stderr.isatty():
        return NONE
    return RichProgress(lang)
