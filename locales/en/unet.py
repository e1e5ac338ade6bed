"""The U-Net tab (5.2): the builder, segmenting the samples, the pitfalls; the errors of lab.unet and lab.segment."""

TEXT = {
    # ---- the builder
    "unet.intro": (
        "### 5.2 · A U-Net from four blocks\n"
        "`DoubleConv` (conv → BN → ReLU, twice), `Down` (max-pool, then DoubleConv), `Up` (upsample, concatenate "
        "the encoder’s feature map, DoubleConv) and `OutConv` (1×1 conv) assemble into the U. With the defaults the "
        "model is exactly the tutorial’s `UNet(3, 2, bilinear=True)`: same state_dict keys and shapes, so its "
        "checkpoints load. Change the width (base channels), the depth, the upsampling, the input size, and see every "
        "block’s output shape, parameters and FLOPs; **Build U-Net** also hands the model to the other tabs (the "
        "Checkpoints tab can save it). Below, the shipped small U-Net segments the sample images or your own."
    ),
    "unet.n_channels": "Input channels (n_channels)",
    "unet.n_classes": "Classes (n_classes)",
    "unet.upsampling": "Upsampling",
    "unet.upsampling.bilinear": "bilinear upsampling (nn.Upsample)",
    "unet.upsampling.transposed": "transposed conv (nn.ConvTranspose2d)",
    "unet.base_channels": "Base channels (64 in the tutorial)",
    "unet.depth": "Depth (Down blocks; 4 in the tutorial)",
    "unet.height": "Input height",
    "unet.width": "Input width",
    "unet.build": "Build U-Net",
    "unet.figure": "The U",
    "unet.figure.title": "{config} on {height}×{width}",
    "unet.figure.skip": "skip: concat",
    "unet.figure.params": "params",
    "unet.figure.output": "out",
    "unet.totals": (
        "**{params:,}** parameters ({mb:.1f} MB in fp32) · **{gflops:.2f} GFLOPs** per {height}×{width} image "
        "(batch 1, multiply-add = 2) · output **{shape}** · {blocks} blocks"
    ),
    "unet.built": "Built: this is now this session's U-Net, which the Checkpoints tab can save.",
    "unet.table": "Per block, in forward order (FLOPs from torch.utils.flop_counter)",
    "unet.col.block": "block",
    "unet.col.kind": "kind",
    "unet.col.input_shape": "input shape",
    "unet.col.output_shape": "output shape",
    "unet.col.params": "params",
    "unet.col.gflops": "GFLOPs",
    "unet.code.title": "A U-Net from its blocks",
    # ---- segmenting the samples
    "unet.segment.heading": "### Segment the sample images",
    "unet.model.note.shipped": (
        "Segmenting with **the shipped small U-Net** `{config}` · {params:,} parameters. `scripts/make_assets.py` "
        "trained it on {n_train} of the sample images; on the {n_held} it never saw its Dice is **{dice:.3f}**. "
        "Images are scaled to [0, 1]; gray, RGBA, palette and 16-bit images are converted, larger ones (up to 2048 px "
        "a side, 10 MB) are segmented in tiles."
    ),
    "unet.model.note.train": "Segmenting with **the Train tab's U-Net** (trained in this session) `{config}` · "
    "{params:,} parameters.",
    "unet.model.note.uploaded": "Segmenting with **your uploaded weights** `{weights}` ({source}): `{config}` · "
    "{params:,} parameters.",
    "unet.gallery": "Samples (click one)",
    "unet.sample": "Sample",
    "unet.upload": "…or upload an image (PNG/JPEG/TIFF, ≤ 10 MB, ≤ 2048 px)",
    "unet.model": "Model",
    "unet.model.shipped": "shipped small U-Net",
    "unet.model.train": "the Train tab’s U-Net",
    "unet.model.uploaded": "Uploaded weights",
    "unet.weights": "Weights: .safetensors + its .json, or .pt/.pth",
    "unet.weights.loaded": "Loaded **{weights}**: `{config}` · {params:,} parameters · {source}.",
    "unet.weights.from_json": "config from `{json}`",
    "unet.weights.no_json": "no JSON: the weights fit the shipped config",
    "unet.segment": "Segment",
    "unet.overlay": "Mask over the image",
    "unet.threshold": "Threshold (changes the mask above)",
    "unet.prob": "Probability map",
    "unet.true": "True mask",
    "unet.scores": "**{name}** · {width}×{height} px · threshold {threshold:.2f} · {foreground:.1f}% foreground",
    "unet.scores.dice": " · Dice **{dice:.3f}** · IoU **{iou:.3f}**",
    "unet.scores.no_truth": " · no true mask for an upload, so no Dice/IoU",
    "unet.scores.time": (
        "Segmented in **{ms:.1f} ms** on **{device}** ({precision}). Probability map: 0 dark, 1 yellow."
    ),
    "unet.precision.bf16": "bf16 autocast",
    "unet.precision.fp32": "fp32",
    "unet.segment.code": "PyTorch code: the same segmentation, plain fp32 (run it in a folder holding the files below)",
    "unet.segment.code.title": "Segmenting an image with the U-Net",
    "unet.files": "Files the code reads: the image, its true mask, the weights and their JSON",
    # ---- the pitfalls
    "unet.pitfall.accordion": "Pitfalls: the figure’s 572 → 388 vs the code’s padding=1; skips concatenate, not add",
    "unet.pitfall.size": "Input size (the paper’s figure: 572)",
    "unet.pitfall.col.stage": "stage",
    "unet.pitfall.col.paper": "paper: in → out",
    "unet.pitfall.col.code": "code: in → out",
    "unet.pitfall.col.skip": "skip handling",
    "unet.pitfall.crop": "paper crops skip {skip} → {to}",
    "unet.pitfall.pad": "code pads {up} → {to}",
    "unet.pitfall.no_pad": "code needs no pad ({size})",
    "unet.stage.encoder": "encoder level {level}",
    "unet.stage.decoder": "decoder level {level}",
    "unet.skip.col.tensor": "tensor",
    "unet.skip.col.shape": "shape",
    "unet.skip.col.channels": "channels",
    "unet.skip.col.value": "value at channel {channel}, pixel ({y}, {x})",
    "pitfall.unet.figure_vs_code.title": "The figure is the paper's U (572 → 388); the code keeps the size",
    "pitfall.unet.figure_vs_code.why": (
        "The figure in 5.2.1 is the original paper's U: 3×3 convolutions *without* padding, so every DoubleConv loses "
        "4 pixels, a {size}×{size} input comes out as {paper_out}×{paper_out} ({lost} px smaller), and each skip "
        "connection has to be *cropped* to fit the decoder's map. The tutorial's code uses `padding=1` (and "
        "BatchNorm, which the paper did not have): each conv keeps the size, `Up` *pads* the upsampled map to the "
        "skip's size, and the output has the input's height and width. Both U's run here on meta tensors (shapes, no "
        "arithmetic), level by level; at depth {depth} the paper's U needs at least {min_size} px."
    ),
    "pitfall.unet.skip_concat.title": "U-Net's skips concatenate; residual connections add (that is ResNet)",
    "pitfall.unet.skip_concat.why": (
        "5.2.1 credits U-Net with *residual connections* that solve the degradation problem: that is ResNet, whose "
        "blocks compute `x + f(x)`, so `f` must keep the shape exactly. U-Net's skip connections *concatenate*: in "
        "`{block}` the encoder's {channels} channels are stacked beside the {channels} of the upsampled map, and its "
        "DoubleConv reads {cat_channels}. Run as an addition on the same feature maps (the shipped U-Net segmenting "
        "{sample}), the sum keeps only {add_channels} channels, the two maps' values mixed into one, and the "
        "DoubleConv built for {expects} refuses it. Concatenation needs equal height and width only (Up pads to get "
        "them); an addition needs equal shapes."
    ),
    # ---- field names in error sentences
    "field.unet.n_channels": "Input channels (n_channels)",
    "field.unet.n_classes": "Classes (n_classes)",
    "field.unet.bilinear": "Bilinear upsampling (bilinear)",
    "field.unet.base_channels": "Base channels (base_channels)",
    "field.unet.depth": "U-Net depth",
    "field.unet.height": "Input height",
    "field.unet.width": "Input width",
    "field.unet.upsampling": "Upsampling",
    "field.unet.model": "Model",
    "field.unet.pitfall_size": "Pitfall input size",
    "field.unet.pitfall_depth": "Pitfall depth",
    "field.segment.threshold": "Threshold",
    "field.segment.precision": "Precision",
    "field.segment.sample": "Sample",
    "field.segment.model": "Model source",
    "unet.accept.even": "an even whole number from {low} to {high} (the decoder halves channels)",
    # ---- errors of lab.unet
    "error.unet.too_many_params": (
        "This U-Net would have {millions} M parameters; at most {limit} M are accepted (lower base channels or depth)."
    ),
    "error.unet.input_shape": (
        "U-Net input has shape {shape}; expected (N, {channels}, H, W) with H and W at least {min}."
    ),
    "error.unet.input_too_small": (
        "U-Net input size {height} x {width} is too small for depth {depth}; height and width must be at least "
        "2**{depth} = {min}."
    ),
    "error.unet.paper_too_small": (
        "With unpadded convs a {size} px input shrinks to nothing by {where} at depth {depth}; use {low} to {high} px "
        "for depth {depth} (or a smaller depth)."
    ),
    "error.unet.no_trained_model": (
        "Model: the Train tab has not trained a U-Net in this session yet; train one there first."
    ),
    "error.unet.no_uploaded_model": (
        "Model: no weights uploaded in this session yet; upload a .safetensors and its .json first."
    ),
    # ---- errors of lab.segment
    "error.segment.no_samples": "The sample images are missing; run python scripts/make_assets.py to make them.",
    "error.segment.no_image": "No image chosen; click a sample in the gallery or upload an image.",
    "error.segment.nothing_segmented": "Nothing segmented yet; click a sample or upload an image first.",
    "error.segment.no_weights": (
        "No weights file given; upload a .safetensors (or .pt/.pth) file with its .json config."
    ),
    "error.segment.not_a_file": "File {name} does not exist or is not a file; upload the weights and their .json.",
    "error.segment.weights_kind": "File {name} is not accepted; upload one {suffixes} file and its .json.",
    "error.segment.weights_count": (
        "Got {weights} weights file(s) and {configs} .json file(s); upload exactly one weights file and at most one "
        ".json."
    ),
    "error.segment.config_too_big": "Config file {name} is over {kb} KB; a U-Net config is smaller.",
    "error.segment.needs_config": (
        "File {name} holds no config and its weights do not fit the shipped U-Net (base_channels {base}, depth "
        "{depth}); upload its .json as well."
    ),
    "error.segment.image_file_too_big": "Image file is {mb} MB; files up to 10 MB are accepted.",
    "error.segment.image_too_large": (
        "Image is {width} x {height} pixels; images up to {max} pixels a side are accepted."
    ),
    "error.segment.image_far_too_large": (
        "Image is far too large to decode; images up to {max} pixels a side are accepted."
    ),
    "error.segment.not_an_image": (
        "The uploaded file is not an image PIL can read; use PNG, JPEG, TIFF, BMP or WebP."
    ),
    "error.segment.image_damaged": "The uploaded image is damaged or truncated; please upload a complete image file.",
    "error.segment.image_not_finite": "Image contains NaN or infinite values; give finite pixel values.",
    "error.segment.image_dtype": "Image dtype {dtype} is not supported; use uint8, uint16 or float pixels.",
    "error.segment.image_shape": "Image has shape {shape}; use HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA).",
    "error.segment.image_size": (
        "Image is {width} x {height} pixels; images from 1 to {max} pixels a side are accepted."
    ),
    "error.segment.image_channels": "The model takes {model} input channels; it cannot read a {image}-channel image.",
    "error.segment.mask_shapes": "Mask shapes differ: prediction {pred} vs true mask {true}; they must match.",
}
