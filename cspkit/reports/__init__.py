"""Report assembly and Excel workbook writing (atomic: temp file, then rename)."""
