"""Default friendly names that tell identical scanners apart.

Two scanners of the same make and model on one appliance would otherwise get
the same default names (DPWS FriendlyName ``"<model> on <host>"``,
ScannerDescription ScannerName ``"<vendor> <model>"``), and a user could not
tell them apart in Windows' "Add a device" list or in ``scanimage -L``. The
first scanner of a model ever served keeps the plain name; the next ones get
`` (2)``, `` (3)``... in the order they were first seen. The numbers are kept
in the state directory (document ``names``: make and model -> scanner stable
key -> number), so every scanner keeps its number across restarts and
re-plugging, whatever order the scanners are found in. A name the user
configured is never changed (the caller uses the number only for defaults).
"""

from __future__ import annotations

from .state import StateStore

DOCUMENT = "names"


class NameNumbers:
    """The persistent numbers of default friendly names, per make and model.

    ``store``: the state directory's :class:`~firmware.state.StateStore`
    (None: numbers live only as long as the object).
    """

    def __init__(self, store: StateStore | None) -> None:
        self._store = store
        loaded = store.load(DOCUMENT) if store is not None else {}
        self._numbers: dict[str, dict[str, int]] = {
            model: {key: n for key, n in keys.items() if isinstance(n, int) and not isinstance(n, bool) and n >= 1}
            for model, keys in loaded.items()
            if isinstance(keys, dict)
        }

    def number(self, vendor: str, model: str, key: str) -> int:
        """The number of scanner ``key`` (its stable key) among the scanners of ``vendor`` ``model``:
        the one it got before, else the lowest number no scanner of that model got, which is
        then stored. Never raises: a state directory that cannot be written is logged and the
        number holds until the process ends."""
        numbers = self._numbers.setdefault(f"{vendor}\n{model}", {})
        if key not in numbers:
            taken = set(numbers.values())
            number = 1
            while number in taken:
                number += 1
            numbers[key] = number
            if self._store is not None:
                self._store.save(DOCUMENT, self._numbers)  # a failure is logged once by the store
        return numbers[key]


def numbered(name: str, number: int, limit: int | None = None) -> str:
    """``name`` for number 1, ``"name (n)"`` otherwise; with ``limit`` (characters) the
    name is shortened so the number still fits."""
    suffix = "" if number <= 1 else f" ({number})"
    if limit is not None:
        name = name[: max(0, limit - len(suffix))]
    return name + suffix
