"""损失函数标签页（教程 6.1）：标签、讲解、图中文字、教程中的坑，以及本主题的输入错误。"""

TEXT = {
    # ---- 标签页
    "losses.intro": (
        "### 自定义损失函数（教程 6.1）\n"
        "这里的每个损失函数都和 `nn.BCEWithLogitsLoss` 一样，输入的是 **logits**（模型的原始输出，未经 sigmoid）"
        "和真实掩码（mask）。教程里的类先 `F.sigmoid` 再 `F.binary_cross_entropy`（logits 很大时会饱和；CUDA 的 "
        "autocast 直接拒绝它，CPU 的 autocast 会照常运行，但用的是舍入后的概率），把 Focal 的调制因子乘在整个 batch "
        "平均后的 BCE 上，还用了 `view(-1)`（张量不连续时会报错）；实验室的版本把这三处都改正了。选几个损失函数比较，"
        "调整它们的参数，再到掩码上看看效果。选中的损失函数会写进下方的代码；你选择或修改它之后，训练标签页也会用它。"
    ),
    "losses.guide.title": "各损失函数衡量的是什么",
    "losses.guide": (
        "| 损失函数 | 衡量的是什么 |\n|---|---|\n"
        "| `DiceLoss` | 1 − Dice：预测和掩码的重叠程度，2·\\|X∩Y\\| / (\\|X\\| + \\|Y\\|)；与背景多少无关，"
        "所以小目标也算得上数 |\n"
        "| `IoULoss` | 1 − IoU（Jaccard）：交集除以并集，\\|X∩Y\\| / \\|X∪Y\\|；同一个预测下比 Dice 更严格 |\n"
        "| `DiceBCELoss` | BCE（逐像素分对）+ Dice（整体重叠）：前期梯度平稳，后期看重叠 |\n"
        "| `FocalLoss` | 在 BCE 上乘 (1 − p_t)^gamma，压低容易分对的像素，alpha 平衡前景和背景："
        "适合背景占绝大多数的掩码 |\n"
        "| `BCEWithLogitsLoss` | 逐像素的二元交叉熵，直接由 logits 计算 |\n"
        "| `MSELoss`、`L1Loss`、`SmoothL1Loss`、`HuberLoss` | 概率 sigmoid(logit) 与 0/1 掩码之间的距离："
        "属于回归损失，这里用来对照 |"
    ),
    "losses.compare": "参与比较的损失函数",
    "losses.chosen": "选用的损失函数（用于代码和训练标签页）",
    "losses.smooth": "smooth（Dice、IoU、Dice + BCE 的平滑项）",
    "losses.smooth.info": ">= 0",
    "losses.alpha": "alpha（Focal 的类别权重）",
    "losses.alpha.info": "0 到 1；留空表示不加类别权重",
    "losses.gamma": "gamma（Focal 的聚焦指数）",
    "losses.gamma.info": ">= 0；取 0 时是按 alpha 加权的 BCE（alpha 留空才是普通 BCE）",
    "losses.sample": "示例图像",
    "losses.source": "预测来源",
    "losses.source.blur": "模糊",
    "losses.source.shift": "平移",
    "losses.source.erode": "腐蚀",
    "losses.source.dilate": "膨胀",
    "losses.source.noise": "噪声",
    "losses.source.unet": "U-Net 的预测",
    "losses.amount": "退化程度",
    "losses.amount.info": "模糊/平移/腐蚀/膨胀时 1 = 24 像素；噪声时为均匀噪声所占的比例",
    "losses.curves.label": "单个像素上的损失及其梯度",
    "losses.mask.heading": "#### 在掩码上比较",
    "losses.mask.summary": (
        "预测以 0.5 为阈值与真实掩码比较：Dice **{dice:.3f}**，IoU **{iou:.3f}**（{width} x {height} 像素）。"
    ),
    "losses.table.label": "各损失函数在这个预测上的值",
    "losses.table.loss": "损失函数",
    "losses.table.value": "值",
    "losses.table.tutorial": "教程的类",
    "losses.bars.label": "损失值",
    "losses.maps.label": "逐像素损失",
    "losses.basics": "6.1.1 与 6.1.2：损失函数就是一个函数，而且要用 PyTorch 的张量运算",
    "losses.code.title": "选用的损失函数在示例预测上的计算",
    "losses.code.label": "PyTorch 代码：选用的损失函数在这个预测上的计算（可独立运行）",
    "losses.code.files": "代码要读取的文件：请和代码放在同一目录",
    # ---- 损失函数名（保持代码写法；回归类损失比较的是 sigmoid(logit) 与掩码）
    "losses.name.dice": "Dice",
    "losses.name.iou": "IoU（Jaccard）",
    "losses.name.dice_bce": "Dice + BCE",
    "losses.name.focal": "Focal",
    "losses.name.bce": "BCEWithLogits",
    "losses.name.mse": "MSE（作用于 sigmoid 输出）",
    "losses.name.l1": "L1（作用于 sigmoid 输出）",
    "losses.name.smooth_l1": "SmoothL1（作用于 sigmoid 输出）",
    "losses.name.huber": "Huber（作用于 sigmoid 输出）",
    # ---- 图中文字（lab.losses.figures.TEXT）
    "losses.curves.title": "预测概率从 0 变到 1 时，单个像素上的损失及其梯度",
    "losses.curves.target1": "目标 = 1：损失",
    "losses.curves.target0": "目标 = 0：损失",
    "losses.curves.grad": "d loss / d logit",
    "losses.curves.x": "预测概率 p = sigmoid(logit)",
    "losses.curves.y_loss": "损失",
    "losses.curves.y_grad": "梯度",
    "losses.values.title": "各损失函数在这个预测上的值",
    "losses.values.y": "损失值",
    "losses.values.lab": "实验室（改正后）",
    "losses.values.tutorial": "教程的类",
    "losses.maps.title": "真实掩码、预测和逐像素损失",
    "losses.maps.pooled": "（每格为 {k}x{k} 像素的平均）",
    "losses.maps.image": "图像 + 真实掩码",
    "losses.maps.prob": "预测概率 p",
    "losses.maps.bce": "逐像素 BCE",
    "losses.maps.focal": "逐像素 Focal",
    "losses.share.title": "梯度来自哪里：像素按从错到对排序",
    "losses.share.x": "p_t（给真实类别的概率）：p_t 不超过该值的像素",
    "losses.share.y": "占全部 |梯度| 的比例",
    "losses.share.bce": "BCE（平均）",
    "losses.share.tutorial": "教程的 FocalLoss",
    "losses.share.focal": "FocalLoss（逐像素）",
    # ---- 坑里的表格：列名和行名
    "losses.col.logit": "logit",
    "losses.col.target": "目标",
    "losses.col.sigmoid_bce_loss": "sigmoid + BCE：损失",
    "losses.col.with_logits_loss": "with logits：损失",
    "losses.col.exact_loss": "精确损失",
    "losses.col.sigmoid_bce_grad": "sigmoid + BCE：梯度",
    "losses.col.with_logits_grad": "with logits：梯度",
    "losses.col.sigmoid_bce_cpu_autocast": "sigmoid + BCE，CPU autocast（bf16）",
    "losses.col.with_logits_cpu_autocast": "with logits，CPU autocast（bf16）",
    "losses.col.quantity": "量",
    "losses.col.value": "值",
    "losses.col.step": "SGD 步数",
    "losses.col.numpy_loss": "含 numpy 步骤的损失",
    "losses.col.torch_loss": "用 torch 计算的损失（my_loss）",
    "losses.focal.q.bce": "BCE（平均）",
    "losses.focal.q.tutorial": "教程的 FocalLoss",
    "losses.focal.q.ratio": "教程的 / BCE",
    "losses.focal.q.focal": "FocalLoss（逐像素）",
    "losses.focal.q.gamma0": "FocalLoss，gamma 为 0（按 alpha 加权的 BCE）",
    "losses.focal.q.gamma0_none": "FocalLoss，gamma 为 0，alpha 留空（= BCE）",
    "losses.autocast.cuda_ran": "在本机的 GPU 上，CUDA autocast 拒绝了它：`{error}`",
    "losses.autocast.no_cuda": (
        "本机没有 CUDA GPU，这个报错无法在这里现场运行；在有 GPU 的机器上，这一调用会抛出 `RuntimeError: "
        "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast`。"
    ),
    # ---- 教程中的坑
    "pitfall.losses.dice_indentation.title": "教程印出的 DiceLoss 无法编译：空格中混进了一个 Tab",
    "pitfall.losses.dice_indentation.why": (
        "教程印出的 `DiceLoss` 中，`{text}` 这一行（第 {line} 行）用 Tab 缩进，其余各行都用空格。Python 在运行任何代码"
        "之前就拒绝了整个类：对印出的原文调用 `compile()`，在第 {line} 行抛出 **{error}**。把 Tab 换成空格后，这个类"
        "就能运行（右侧），结果与实验室的 DiceLoss 相同（{lab:.6f}）：公式本身没错，它的其他问题（`F.sigmoid`、"
        "`.view(-1)`、没用上的 `weight`）见下面几个坑。教程印出的 FocalLoss 并没有缩进错误。"
    ),
    "pitfall.losses.sigmoid_bce.title": "先 sigmoid 再 binary_cross_entropy：模型错得最离谱的地方反而没有梯度",
    "pitfall.losses.sigmoid_bce.why": (
        "`F.sigmoid` 之后再 `F.binary_cross_entropy`，取对数的是一个已被 float32 舍入过的概率：float32 中 "
        "`sigmoid(17)` 恰好等于 {p:g}，所以 logit 为 17 的背景像素（目标 0）损失被截断在 {wrong_loss:g}，梯度为 "
        "{wrong_grad:g}：最自信地分错的像素反而学不动了。`binary_cross_entropy_with_logits` 直接由 logit 一步算出"
        "同样的损失（log-sum-exp 技巧）：{right_loss:g}，梯度 {right_grad:g}（= sigmoid(z) − 目标）。表格在更大、"
        "更小的 logit 以及目标为 1 和 0 时对比两者。"
    ),
    "pitfall.losses.autocast.title": "autocast 下的 sigmoid + binary_cross_entropy：CUDA 拒绝，CPU 照常运行",
    "pitfall.losses.autocast.why": (
        "混合精度（`torch.autocast`）让模型以 float16 或 bfloat16 运行（bf16：16 位浮点数，数值范围与 float32 相同，"
        "只有约 3 位有效数字）。只有 **CUDA** 的 autocast 会拒绝 `F.binary_cross_entropy`：它抛出 RuntimeError，"
        "并建议改用 `binary_cross_entropy_with_logits`。**CPU** 的 autocast 会照常运行它，以 float32 计算，但输入的"
        "是 sigmoid 在 bf16 下得到的概率：logit 为 {logit:g}（目标 0）时，sigmoid 在 bf16 中舍入为 1.0，损失变成 "
        "{cpu_loss:g}，而精确值是 {exact:.4f}。由 logits 计算的损失在两种设备上都是对的。这里实验室运行在 "
        "**{device}** 上：左右两边都在它上面运行；表格是 CPU 的结果。{cuda_note}"
    ),
    "pitfall.losses.focal.title": "教程的 FocalLoss 只是把 BCE 缩放了一下",
    "pitfall.losses.focal.why": (
        "教程的 FocalLoss 先对整个 batch 求 BCE 的**平均值**（在这个预测上为 {bce:.5f}），再把 "
        "`alpha * (1 - exp(-BCE))**gamma` 乘在这一个数上：结果（{tutorial:.6f}）就是 BCE 乘以 {ratio:.5f}，每个像素"
        "乘的都是同一个系数，所以每个像素的梯度都只是 BCE 梯度的缩放，图中它的虚线与 BCE 的线完全重合。真正的 "
        "Focal Loss 先逐像素乘上调制因子（`reduction=\"none\"`）再求平均（{focal:.6f}），把梯度从容易的像素"
        "（p_t 接近 1）转移到难的像素上：它的线更早上升。另外，gamma 为 0 时只有 alpha 留空才是 BCE"
        "（{gamma0_none:.5f}）；alpha 为 {alpha} 时得到的是按 alpha 加权的 BCE（{gamma0:.5f}）。"
    ),
    "pitfall.losses.view.title": "`.view(-1)` 在 channels_last 的预测上报错",
    "pitfall.losses.view.why": (
        "`.view(-1)` 只是换一种方式解读同一块内存，要求元素按顺序存放。以 **channels_last**（NHWC：同一像素的各通道"
        "在内存中相邻，卷积更快）运行的模型，输出的 logits 步长为 {stride}（`is_contiguous()` 为 {contiguous}）；"
        "`F.sigmoid` 会保持这种内存布局，于是教程的 `inputs.view(-1)` 抛出左侧的 RuntimeError。`.reshape(-1)` "
        "在必要时会复制数据，而直接 `.sum()` 根本不需要展平（实验室的类就是这样）。公式本身没问题：在连续的副本上，"
        "教程的类得到 {copy:.6f}，与右侧的值相同。"
    ),
    "pitfall.losses.unused_args.title": "`weight` 和 `size_average` 收下了却从没用过",
    "pitfall.losses.unused_args.why": (
        "教程的类接收 `{signature}`，却从未用到 `weight` 或 `size_average`：传入一个去掉第二张图像的权重，结果毫无"
        "变化（左侧：不加权重和加上权重的值）。PyTorch 自带的损失函数会把 `weight` 乘到每个元素的损失上（右侧："
        "`BCEWithLogitsLoss` 不加和加上权重）。`size_average` 是 PyTorch 中已弃用的旧参数，如今用 `reduction`。"
        "损失函数只接收自己用得到的参数。"
    ),
    "pitfall.losses.loss_base.title": "基类是 `_Loss`，不是 `_loss`",
    "pitfall.losses.loss_base.why": (
        "教程说官方损失函数继承自 `_loss`；实际上 `torch.nn.modules.loss` 里的类是 `_Loss`（大写 L），"
        "`_WeightedLoss` 在它的基础上增加了 `weight`。两者都是内部的辅助类：自定义损失函数应继承 `nn.Module`，"
        "教程的类也正是这样做的。"
    ),
    "pitfall.losses.function.title": "以函数方式定义损失函数",
    "pitfall.losses.function.why": (
        "6.1.1：损失函数仅仅是一个关于张量的函数。教程的 `my_loss`（均方误差）作用在预测概率上，得到的值与 "
        "`nn.MSELoss` 相同；又因为自动求导会跟踪其中的每一个 PyTorch 运算，梯度也相同（最大差值 {grad_diff:g}）。"
        "以类方式定义（6.1.2）更常用，因为类可以保存 `smooth`、`alpha` 这样的设置。"
    ),
    "pitfall.losses.numpy.title": "损失函数里夹一步 numpy，梯度就断了",
    "pitfall.losses.numpy.why": (
        "6.1.2 的注：自定义损失函数时最好全程使用 PyTorch 的张量运算。numpy 没有自动求导，要转成 numpy 必须先 "
        "`.detach()`，计算图就此中断：得到的损失是一个没有历史的新张量。即便设成 `requires_grad=True`，"
        "`backward()` 也能不报错地运行，但梯度到不了模型：`model.weight.grad` 一直是 None，8 步 SGD 之后损失仍是 "
        "{wrong_last:.4f}。用 PyTorch 写同样的 MSE（`my_loss`）就能训练：{right_first:.4f} → {right_last:.4f}。"
    ),
    # ---- 输入错误（lab.losses）：字段名、可接受的值、句子
    "field.losses.loss": "损失函数",
    "field.losses.compare": "参与比较的损失函数",
    "field.losses.smooth": "smooth（平滑项）",
    "field.losses.alpha": "alpha（类别权重）",
    "field.losses.gamma": "gamma（聚焦指数）",
    "field.losses.beta": "beta（二次段与线性段的分界）",
    "field.losses.delta": "delta（二次段与线性段的分界）",
    "field.losses.mode": "mode（二分类或多分类）",
    "field.losses.reduction": "reduction（归约方式）",
    "field.losses.points": "points（曲线上的点数）",
    "field.losses.sample": "示例图像",
    "field.losses.source": "预测来源",
    "field.losses.amount": "退化程度",
    "losses.accept.at_least": "不小于 {low} 的数",
    "losses.accept.above": "大于 {low} 的数",
    "losses.accept.or_none": "{accepted}，或留空（None：不加权重）",
    "losses.accept.loss": " {names} 之一（DiceBCELoss、dice-bce 这样的写法也可以）",
    "losses.accept.names": "最多 {count} 个损失函数名组成的列表",
    "losses.accept.no_params": "无",
    "error.losses.unknown_param": "损失函数 {loss} 不接收 {names}；它可接收的参数：{takes}。",
    "error.losses.no_such_param": "没有哪个损失函数接收参数 {name}。",
    "error.losses.none_chosen": "参与比较的损失函数：一个都没选；请至少选一个。",
    "error.losses.binary_shape": (
        "二分类损失要求 logits 和目标形状相同（或 logits 为 (N, 1, H, W)、目标为 (N, H, W)）；"
        "实际得到 {logits} 和 {targets}。"
    ),
    "error.losses.multiclass_shape": (
        "多分类损失要求 logits 为 (N, C, H, W) 且 C >= 2，目标为整数 (N, H, W)；实际得到 {logits} 和 {targets}。"
    ),
    "error.losses.multiclass_dtype": "多分类的目标必须是整数类别编号；实际的 dtype 为 {dtype}。",
    "error.losses.multiclass_range": "多分类的目标必须在 [0, {high}] 之内；实际取值从 {low_seen} 到 {high_seen}。",
    "error.losses.mask_shape": "掩码的形状必须是 (N, 1, H, W)；实际为 {shape}。",
    "error.losses.no_unet": "随实验室提供的 U-Net（assets/unet_small.safetensors）不存在；请改选一种退化方式。",
    "error.losses.code_binary": "代码面板只生成二分类损失；请使用 mode='binary'。",
}
