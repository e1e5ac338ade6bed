"""U-Net 标签页（5.2）：搭建 U-Net、分割示例图像、教程中的坑，以及 lab.unet 与 lab.segment 的报错。"""

TEXT = {
    # ---- 搭建 U-Net
    "unet.intro": (
        "### 5.2 · 用四个模型块搭出 U-Net\n"
        "`DoubleConv`（卷积 → BN → ReLU，做两次）、`Down`（最大池化，再接 DoubleConv）、`Up`（上采样，"
        "与编码器同一层的特征图拼接，再接 DoubleConv）和 `OutConv`（1×1 卷积）组装成“U”形网络。默认设置下的模型"
        "就是教程中的 `UNet(3, 2, bilinear=True)`：state_dict 的键和形状完全一致，教程保存的权重可以直接加载。"
        "修改宽度（基础通道数）、深度、上采样方式和输入尺寸，即可看到每个模型块的输出形状、参数量和 FLOPs；"
        "点击**构建 U-Net** 后，模型还会交给其他标签页（可在「模型保存与读取」中保存）。下方用随实验室提供的小型 "
        "U-Net 分割示例图像，也可以分割你自己的图像。"
    ),
    "unet.n_channels": "输入通道数（n_channels）",
    "unet.n_classes": "类别数（n_classes）",
    "unet.upsampling": "上采样方式",
    "unet.upsampling.bilinear": "双线性插值上采样（nn.Upsample）",
    "unet.upsampling.transposed": "转置卷积（nn.ConvTranspose2d）",
    "unet.base_channels": "基础通道数（教程中为 64）",
    "unet.depth": "深度（Down 模型块个数，教程中为 4）",
    "unet.height": "输入高度",
    "unet.width": "输入宽度",
    "unet.build": "构建 U-Net",
    "unet.figure": "U 形结构",
    "unet.figure.title": "{config}，输入 {height}×{width}",
    "unet.figure.skip": "跳跃连接：拼接",
    "unet.figure.params": "个参数",
    "unet.figure.output": "输出",
    "unet.totals": (
        "**{params:,}** 个参数（fp32 下 {mb:.1f} MB）· 每张 {height}×{width} 图像 **{gflops:.2f} GFLOPs**"
        "（batch 为 1，一次乘加记 2 次运算）· 输出 **{shape}** · 共 {blocks} 个模型块"
    ),
    "unet.built": "已构建：这就是本会话的 U-Net，可在「模型保存与读取」标签页中保存。",
    "unet.table": "逐个模型块，按前向计算顺序（FLOPs 由 torch.utils.flop_counter 统计）",
    "unet.col.block": "模型块",
    "unet.col.kind": "类型",
    "unet.col.input_shape": "输入形状",
    "unet.col.output_shape": "输出形状",
    "unet.col.params": "参数量",
    "unet.col.gflops": "GFLOPs",
    "unet.code.title": "用模型块搭建 U-Net",
    # ---- 分割示例图像
    "unet.segment.heading": "### 分割示例图像",
    "unet.model.note.shipped": (
        "当前用于分割的是**随实验室提供的小型 U-Net** `{config}` · {params:,} 个参数。它由 `scripts/make_assets.py` "
        "在 {n_train} 张示例图像上训练；在训练时从未见过的 {n_held} 张图像上，Dice 为 **{dice:.3f}**。图像先缩放到 "
        "[0, 1]；灰度、RGBA、调色板和 16 位图像会先转换，较大的图像（每边最多 2048 像素、10 MB）分块分割。"
    ),
    "unet.model.note.train": (
        "当前用于分割的是**「训练」标签页训练的 U-Net**（本会话中训练）`{config}` · {params:,} 个参数。"
    ),
    "unet.model.note.uploaded": (
        "当前用于分割的是**你上传的权重** `{weights}`（{source}）：`{config}` · {params:,} 个参数。"
    ),
    "unet.gallery": "示例图像（点击选择）",
    "unet.sample": "示例图像",
    "unet.upload": "……或上传一张图像（PNG/JPEG/TIFF，≤ 10 MB，≤ 2048 像素）",
    "unet.model": "模型",
    "unet.model.shipped": "随实验室提供的小型 U-Net",
    "unet.model.train": "「训练」标签页的 U-Net",
    "unet.model.uploaded": "上传的权重",
    "unet.weights": "权重：.safetensors 及其 .json，或 .pt/.pth",
    "unet.weights.loaded": "已加载 **{weights}**：`{config}` · {params:,} 个参数 · {source}。",
    "unet.weights.from_json": "结构参数来自 `{json}`",
    "unet.weights.no_json": "没有 JSON：权重与随附模型的结构参数相符",
    "unet.segment": "分割",
    "unet.overlay": "叠加在图像上的掩码",
    "unet.threshold": "阈值（改变上方的掩码）",
    "unet.prob": "概率图",
    "unet.true": "真实掩码",
    "unet.scores": "**{name}** · {width}×{height} 像素 · 阈值 {threshold:.2f} · 前景占 {foreground:.1f}%",
    "unet.scores.dice": " · Dice **{dice:.3f}** · IoU **{iou:.3f}**",
    "unet.scores.no_truth": " · 上传的图像没有真实掩码，因此不计算 Dice/IoU",
    "unet.scores.time": "分割用时 **{ms:.1f} ms**，设备 **{device}**（{precision}）。概率图中 0 为深色，1 为黄色。",
    "unet.precision.bf16": "bf16 自动混合精度：在硬件原生支持的设备上用 16 位浮点数计算",
    "unet.precision.fp32": "fp32",
    "unet.segment.code": "PyTorch 代码：同样的分割，普通 fp32 写法（在存放下方文件的文件夹中运行）",
    "unet.segment.code.title": "用 U-Net 分割图像",
    "unet.files": "代码读取的文件：图像、真实掩码、权重及其 JSON",
    # ---- 教程中的坑
    "unet.pitfall.accordion": "教程中的坑：示意图 572 → 388 与代码的 padding=1；跳跃连接是拼接而不是相加",
    "unet.pitfall.size": "输入尺寸（论文示意图为 572）",
    "unet.pitfall.col.stage": "阶段",
    "unet.pitfall.col.paper": "论文：输入 → 输出",
    "unet.pitfall.col.code": "代码：输入 → 输出",
    "unet.pitfall.col.skip": "跳跃连接的处理",
    "unet.pitfall.crop": "论文把跳跃连接裁剪 {skip} → {to}",
    "unet.pitfall.pad": "代码填充 {up} → {to}",
    "unet.pitfall.no_pad": "代码无需填充（{size}）",
    "unet.stage.encoder": "编码器第 {level} 层",
    "unet.stage.decoder": "解码器第 {level} 层",
    "unet.skip.col.tensor": "张量",
    "unet.skip.col.shape": "形状",
    "unet.skip.col.channels": "通道数",
    "unet.skip.col.value": "第 {channel} 通道在像素 ({y}, {x}) 处的值",
    "pitfall.unet.figure_vs_code.title": "示意图是论文的 U-Net（572 → 388），教程代码则保持尺寸不变",
    "pitfall.unet.figure_vs_code.why": (
        "5.2.1 的结构图来自 U-Net 原论文：3×3 卷积**不加 padding**，每个 DoubleConv 让特征图缩小 4 个像素，"
        "{size}×{size} 的输入最后输出 {paper_out}×{paper_out}（小了 {lost} 像素），每条跳跃连接（Skip-connection）"
        "都要先**裁剪**编码器的特征图才能拼接。教程的代码用的是 `padding=1`（还加了论文中没有的 BatchNorm）："
        "卷积不改变尺寸，`Up` 把上采样后的特征图**填充**到跳跃连接的大小，输出与输入的高、宽相同。这里在 meta 张量上"
        "（只推算形状，不做数值计算）逐层运行这两个 U-Net；深度为 {depth} 时，论文的 U-Net 至少需要 {min_size} "
        "像素的输入。"
    ),
    "pitfall.unet.skip_concat.title": "U-Net 的跳跃连接是拼接；残差连接是相加（那是 ResNet）",
    "pitfall.unet.skip_concat.why": (
        "5.2.1 说 U-Net「通过残差连接结构解决了模型学习中的退化问题」，这其实是 ResNet：残差块计算 `x + f(x)`，"
        "`f` 的输出必须与输入形状完全相同。U-Net 的跳跃连接是**拼接**：在 `{block}` 中，编码器的 {channels} 个通道与"
        "上采样后特征图的 {channels} 个通道叠在一起，其后的 DoubleConv 读入 {cat_channels} 个通道。在同一组特征图上"
        "（随附的小型 U-Net 分割 {sample} 时）改用相加，结果只剩 {add_channels} 个通道，两张特征图的数值混在了一起，"
        "按 {expects} 个输入通道搭建的 DoubleConv 直接报错。拼接只要求高、宽相同（Up 通过填充做到这一点），相加则要求"
        "形状完全相同。"
    ),
    # ---- 报错中的字段名
    "field.unet.n_channels": "输入通道数（n_channels）",
    "field.unet.n_classes": "类别数（n_classes）",
    "field.unet.bilinear": "双线性上采样（bilinear）",
    "field.unet.base_channels": "基础通道数（base_channels）",
    "field.unet.depth": "U-Net 深度（depth）",
    "field.unet.height": "输入高度",
    "field.unet.width": "输入宽度",
    "field.unet.upsampling": "上采样方式",
    "field.unet.model": "模型",
    "field.unet.pitfall_size": "坑演示的输入尺寸",
    "field.unet.pitfall_depth": "坑演示的深度",
    "field.segment.threshold": "阈值",
    "field.segment.precision": "计算精度",
    "field.segment.sample": "示例图像",
    "field.segment.model": "模型来源",
    "unet.accept.even": " {low} 到 {high} 之间的偶数（解码器会把通道数减半）",
    # ---- lab.unet 的报错
    "error.unet.too_many_params": "这个 U-Net 会有 {millions} M 个参数；最多接受 {limit} M（请减小基础通道数或深度）。",
    "error.unet.input_shape": "U-Net 的输入形状为 {shape}；应为 (N, {channels}, H, W)，且 H、W 至少为 {min}。",
    "error.unet.input_too_small": (
        "U-Net 的输入尺寸 {height} x {width} 对深度 {depth} 来说太小；高和宽至少要 2**{depth} = {min}。"
    ),
    "error.unet.paper_too_small": (
        "不加 padding 时，{size} 像素的输入在深度 {depth} 下到{where}就缩没了；深度为 {depth} 时请用 {low} 到 {high} "
        "像素（或减小深度）。"
    ),
    "error.unet.no_trained_model": "模型：本会话中「训练」标签页还没有训练过 U-Net，请先到那里训练一个。",
    "error.unet.no_uploaded_model": "模型：本会话中还没有上传权重，请先上传 .safetensors 文件及其 .json。",
    # ---- lab.segment 的报错
    "error.segment.no_samples": "缺少示例图像；请运行 python scripts/make_assets.py 生成。",
    "error.segment.no_image": "还没有选择图像；请在示例图像中点选一张，或上传一张图像。",
    "error.segment.nothing_segmented": "还没有分割过图像；请先点选示例图像或上传图像。",
    "error.segment.no_weights": "没有提供权重文件；请上传 .safetensors（或 .pt/.pth）文件及其 .json 配置。",
    "error.segment.not_a_file": "文件 {name} 不存在或不是文件；请上传权重及其 .json。",
    "error.segment.weights_kind": "不接受文件 {name}；请上传一个 {suffixes} 文件及其 .json。",
    "error.segment.weights_count": (
        "收到 {weights} 个权重文件和 {configs} 个 .json 文件；请恰好上传一个权重文件，.json 最多一个。"
    ),
    "error.segment.config_too_big": "配置文件 {name} 超过 {kb} KB；U-Net 的配置文件没有这么大。",
    "error.segment.needs_config": (
        "文件 {name} 不含结构参数，其权重也与随附的 U-Net（base_channels {base}，depth {depth}）对不上；"
        "请一并上传它的 .json。"
    ),
    "error.segment.image_file_too_big": "图像文件有 {mb} MB；最多接受 10 MB。",
    "error.segment.image_too_large": "图像为 {width} x {height} 像素；每边最多接受 {max} 像素。",
    "error.segment.image_far_too_large": "图像太大，无法解码；每边最多接受 {max} 像素。",
    "error.segment.not_an_image": "上传的文件不是 PIL 能读取的图像；请使用 PNG、JPEG、TIFF、BMP 或 WebP。",
    "error.segment.image_damaged": "上传的图像已损坏或不完整；请上传完整的图像文件。",
    "error.segment.image_not_finite": "图像中含有 NaN 或无穷大；像素值必须是有限数。",
    "error.segment.image_dtype": "不支持 {dtype} 类型的图像；请使用 uint8、uint16 或浮点像素。",
    "error.segment.image_shape": "图像形状为 {shape}；请使用 HxW（灰度）、HxWx3（RGB）或 HxWx4（RGBA）。",
    "error.segment.image_size": "图像为 {width} x {height} 像素；每边应在 1 到 {max} 像素之间。",
    "error.segment.image_channels": "模型需要 {model} 个输入通道，无法读取 {image} 通道的图像。",
    "error.segment.mask_shapes": "掩码形状不一致：预测 {pred}，真实掩码 {true}；两者必须相同。",
}
