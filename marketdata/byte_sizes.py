"""Table and index sizes as people read them (status command and console page)."""


def human_size(size: int | None) -> str:
    """1536 -> "1.5 kB"; bytes are whole, larger units carry one decimal."""
    value = float(size or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
