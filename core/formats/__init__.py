"""Annotation file formats: DenseSIRST (read + write), COCO (read + write), Pascal VOC and YOLO
(write). Each module turns files into ``core.domain`` dataclasses or back, and nothing else: the
project database is handled by ``core.services.importer`` / ``core.services.exporter``."""
