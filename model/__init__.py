"""BAFE-Net for SIRST Studio (torch only, never Qt).

config (presets) -> net (backbone, FPN, head) with exchange (channel selection + hard exchange);
assign / boxes / losses / postprocess are separate functions; data, train, validate, checkpoint
run training; inference.Predictor serves the GUI and the predict CLI; model_card ships weights.
"""
