"""Running a generator on images: ImageTranslator, tiling, the compiled fast path, the translate command."""
