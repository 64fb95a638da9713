"""The typer application; command modules register themselves on it.

Help output: typer renders each parameter's Python type (`<bool>`, `<list[str]>`, `<str>`)
and required arguments as `{sample_id}`. `CleanGroup` gives every command it serves (and
its `--help`) the conventional look instead: flags show no value, values show a metavar
(`PATH`, `INTEGER`, `text|json`), arguments are upper case (`SAMPLE_ID`, `[PATH]...`).
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption


class ClosedPipe(Exception):
    """The reader of our output went away (`uvqc check f | head`): exit 141, quietly."""


class Interrupted(Exception):
    """Ctrl-C outside a command that handles it itself: exit 130."""


_TYPE_METAVARS = {"path": "PATH", "int": "INTEGER", "str": "TEXT", "float": "NUMBER"}


class _CleanArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column already shows the metavar

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


class _CleanOption(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        label = (super().display_type_rich(ctx) or "").strip("<>")
        if " range" in label:  # "int range [x>=1]": the range is shown in the help text
            label = label.split(" range")[0]
        multiple = label.endswith("...")
        label = label.removesuffix("...")
        if label.startswith("list[") and label.endswith("]"):
            label, multiple = label[5:-1], True
        label = _TYPE_METAVARS.get(label, label)
        return label + ("..." if multiple else "")


def _clean(param: Any) -> None:
    if type(param) is TyperArgument:
        param.__class__ = _CleanArgument
        if param.metavar is None:
            param.metavar = (param.name or "").upper()
    elif type(param) is TyperOption:
        param.__class__ = _CleanOption


class CleanGroup(TyperGroup):
    """A TyperGroup whose commands (and their --help options) print conventional help."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            for param in command.params:
                _clean(param)
            help_option = command.get_help_option(ctx)  # created once, then cached
            if help_option is not None:
                _clean(help_option)
            if type(command) is TyperGroup:
                command.__class__ = CleanGroup
        return command

    def invoke(self, ctx: Any) -> Any:
        # Here, before click's own handling: click exits 1 on a closed pipe (our "flagged")
        # and turns Ctrl-C into "Aborted!" with exit 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise ClosedPipe from exc
        except KeyboardInterrupt as exc:
            raise Interrupted from exc

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _clean(option)
        return option


app = typer.Typer(
    name="uvqc",
    help="Quality control for UV-Vis spectrophotometer results: check, record, notify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CleanGroup,
)
methods_app = typer.Typer(
    help="Inspect and validate QC method files.", no_args_is_help=True, cls=CleanGroup
)
app.add_typer(methods_app, name="methods")
