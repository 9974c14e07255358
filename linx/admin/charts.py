"""What the console's server-drawn bar charts share: the frame, its scale and gridlines."""

from __future__ import annotations

from dataclasses import dataclass, field


def nice_scale(peak: float) -> int:
    """The smallest of 10, 20, 50, 100, 200... at or above ``peak``."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= max(peak, 10):
                return step * magnitude
        magnitude *= 10


@dataclass(kw_only=True)
class ChartFrame:
    """An SVG bar chart's frame: its size, margins, scale, gridlines and day labels."""

    width: int = 600
    height: int = 120
    top: int = 10
    bottom: int = 18
    left: int = 36
    right: int = 16
    bar_width: float = 0
    scale_max: float = 0
    gridlines: list[tuple[float, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def base(self) -> float:
        return self.height - self.bottom

    def slot(self, count: int) -> float:
        """The width each of ``count`` days takes."""
        return (self.width - self.left - self.right) / max(count, 1)

    def bar_height(self, value: float) -> float:
        # A day with anything stays visible next to a day with thousands.
        plot = self.base - self.top
        return 0 if not value else max(1.5, round(plot * value / self.scale_max, 1))

    def draw_gridlines(self, label) -> None:
        """Gridlines at half and full scale, each labelled by ``label(value)``."""
        plot = self.base - self.top
        self.gridlines = [
            (round(self.base - plot * fraction, 1), label(self.scale_max * fraction))
            for fraction in (0.5, 1)
        ]
