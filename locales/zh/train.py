"""训练页（5.2 + 6.1 + 6.2）：设置、实时训练、结果、代码与 torchrun 脚本、报错。"""

TEXT = {
    # ---- 页面
    "train.intro": (
        "### 训练一个 U-Net（5.2 + 6.1 + 6.2）\n"
        "用 **损失函数** 页选的损失函数和 **动态调整学习率** 页选的学习率调整策略，在示例图像（或你自己的图像/掩码对）上训练 "
        "5.2 的 U-Net：每个 batch 之后都调用一次优化器的 `step()`，scheduler 则按它的设计来调：OneCycleLR、CyclicLR "
        "每个 batch 一次，其余每个 epoch 一次。每个 batch 由随机裁剪的小块组成；五分之一的图像留作验证集，训练开始前和"
        "每隔几步各评估一次。默认设置在 2 核 CPU 上不到一分钟，验证集 Dice 就能到 0.9。"
    ),
    "train.data": "数据",
    "train.data.samples": "示例图像",
    "train.data.upload": "上传图像/掩码对",
    "train.files": "图像/掩码对：<name>.png 配 <name>_mask.png（黑色背景、白色目标），2 到 2,000 对",
    "train.samples_zip": "下载示例图像对（.zip）",
    "train.base_channels": "基础通道数",
    "train.depth": "深度",
    "train.loss": "损失函数",
    "train.loss_params": "损失函数参数（JSON）",
    "train.optimizer": "优化器",
    "train.lr": "学习率",
    "train.scheduler": "学习率调度器（scheduler）",
    "train.scheduler.none": "不用（学习率恒定）",
    "train.scheduler_params": "调度器参数（JSON）",
    "train.params.info": "以 JSON 对象写出的具名参数；留空即用默认值。",
    "train.steps": "训练步数",
    "train.steps.info": "优化器更新的次数，1 到 5,000",
    "train.batch": "批大小（batch size）",
    "train.batch.info": "每步的裁剪块数，1 到 64",
    "train.limit": "时间上限（秒）",
    "train.limit.info": "最多 300 秒；每一步开始前都会检查",
    "train.lr_preview": "每一步的学习率（训练前预览）",
    "train.start": "开始",
    "train.stop": "停止",
    "train.ddp": "多 GPU 脚本（torchrun）",
    "train.status.ready": "点 **开始** 训练。下方是这次训练的代码，左侧是它每一步的学习率。",
    "train.curves": "训练曲线",
    "train.gallery": "训练好的模型分割验证集图像（每张的 Dice）",
    "train.table": "验证集逐张结果",
    "train.checkpoint": "模型文件：权重（.safetensors）+ 配置（.json）",
    "train.pitfall.accordion": "易错点：验证时没调用 model.eval()",
    "train.pitfall.note": "每次训练结束后用这次的模型运行；还没训练时，点 **再运行一次** 会用随附的小 U-Net 在示例验证集上演示。",
    "train.code": "PyTorch 代码：这次训练写成一个独立脚本（只用 torch、numpy、PIL；数据文件夹见下）",
    "train.code.title": "训练 U-Net：6.1 的损失函数与 6.2 的学习率调整放进同一个训练循环",
    "train.ddp.explain": (
        "**多 GPU、多机训练。** *多 GPU 脚本（torchrun）* 把这次训练下载为 `train_unet_ddp.py`，交给 PyTorch 的分布式"
        "训练来跑：`torchrun --standalone --nproc_per_node=N train_unet_ddp.py --data DIR --steps S --out OUT` "
        "会给每块 GPU 启动一个进程（torchrun 是 PyTorch 自带的多进程启动器）；每个进程只训练自己分到的那份图像，"
        "DistributedDataParallel（DDP，分布式数据并行）在 `backward()` 里把各进程的梯度求平均。GPU 之间用 NCCL"
        "（NVIDIA 的多卡通信库）传梯度，CPU 之间用 gloo（PyTorch 自带的 CPU 通信后端）；GPU 支持时前向计算用 bf16 "
        "autocast（bfloat16：16 位浮点，指数范围与 fp32 相同，显存和带宽减半）。0 号进程（rank 0）写出 "
        "`unet.safetensors` 和 `unet.json`，U-Net 页和“模型保存与读取”页都能读回。脚本开头的注释说明批大小和学习率该怎样随进程数"
        "调整，以及怎样在多台机器上运行。"
    ),
    # ---- 服务器写出的文字：训练过程
    "train.chosen.loss": "**损失函数** {label}{params}",
    "train.chosen.schedule": "**学习率调整** `{schedule}`，{when}调用一次 step()",
    "train.chosen.constant": "**学习率调整** 不用：学习率一直是 {lr}",
    "train.when.batch": "每个 batch 之后",
    "train.when.epoch": "每个 epoch（{spe} 个 batch）之后",
    "train.status.start": "在 {train} 张图像上训练，用 {val} 张验证……",
    "train.status.step": "**第 {step}/{total} 步** · 损失 {loss:.4f} · 学习率 {lr:.2e}{dice} · {elapsed:.1f} 秒，{device}，{precision}",
    "train.status.dice": " · 验证集 Dice {dice:.3f}",
    "train.status.dice_start": " · 训练前的验证集 Dice {dice:.3f}",
    "train.status.dice_part": " · 验证集 Dice {dice:.3f}（受时间上限所限，只评估了 {total} 张中的 {scored} 张）",
    "train.status.done": "**完成（{why}）**：共 {steps} 步，用时 {elapsed:.1f} 秒 · {dice}",
    "train.why.steps": "全部步数已完成",
    "train.why.time": "到达时间上限",
    "train.why.stopped": "已停止",
    "train.final.all": "验证集 Dice {dice:.3f}（全部 {count} 张验证图像的平均）",
    "train.final.part": "验证集 Dice {dice:.3f}（时间上限内分割完的 {count} 张的平均，共 {total} 张）",
    "train.final.last": "验证集 Dice {dice:.3f}（训练中最后一次评估的结果；已没有时间再分割图像）",
    "train.final.none": "没有验证集得分（时间上限内来不及验证）",
    "train.best.this": " · **U-Net 页和“模型保存与读取”页现在用的是这个模型**（第 {run} 次训练）。",
    "train.best.kept": (
        " · U-Net 页和“模型保存与读取”页**继续用第 {best} 次训练的模型**（验证集 Dice {best_dice:.3f}），它比这次（第 {run} 次）"
        "更好；这次的模型文件照样可以在下面下载。"
    ),
    "train.progress.step": "第 {step}/{total} 步",
    "train.progress.segmenting": "正在分割验证集图像",
    "train.stop.asked": "当前这一步结束后停止……",
    "train.stop.none": "现在没有正在进行的训练。",
    "train.caption": "{name} · Dice {dice:.3f}",
    "train.col.name": "图像",
    "train.col.dice": "Dice",
    "train.col.iou": "IoU",
    "train.col.true_pixels": "真实目标像素",
    "train.col.predicted_pixels": "预测目标像素",
    "train.col.mean": "平均",
    # 曲线
    "train.fig.loss_title": "训练损失",
    "train.fig.lr_title": "学习率",
    "train.fig.dice_title": "验证集 Dice",
    "train.fig.step": "步",
    "train.fig.loss": "损失",
    "train.fig.lr": "学习率",
    "train.fig.planned": "计划的学习率",
    "train.fig.dice": "验证集 Dice",
    # ---- 易错点
    "pitfall.train.eval_mode.title": "验证时没调用 model.eval()",
    "pitfall.train.eval_mode.why": (
        "同一个模型、同样 {images} 张验证图像评估两次：调用了 `model.eval()`（BatchNorm 用训练中累积的 running "
        "统计量）平均 Dice 为 **{eval:.3f}**；停在 `model.train()` 模式下为 **{train:.3f}**。训练模式下 BatchNorm 用"
        "每张图像自己的统计量做归一化，得分会随同一批里的其他数据而变，而且验证过程还会改写 running 统计量。教程第 4 章"
        "的训练流程是切换模式的（训练前 `model.train()`，验证前 `model.eval()`）；6.2 里的循环只写了 `train(...)`、"
        "`validate(...)`，把切换留给了这两个函数：自己写 `validate()` 时要放进去，下一步训练前再用 `model.train()` 切回来。"
    ),
    # ---- 报错里的字段名与可接受的值
    "field.train.data": "数据",
    "field.train.steps": "训练步数",
    "field.train.batch_size": "批大小",
    "field.train.time_limit_s": "时间上限（秒）",
    "field.train.lr": "学习率",
    "field.train.weight_decay": "权重衰减",
    "field.train.seed": "随机种子",
    "field.train.val_fraction": "验证集比例",
    "field.train.val_every": "验证间隔",
    "field.train.base_channels": "基础通道数",
    "field.train.depth": "深度",
    "field.train.crop_size": "裁剪尺寸",
    "field.train.optimizer": "优化器",
    "field.train.precision": "精度",
    "field.train.channels_last": "channels_last",
    "field.train.loss": "损失函数",
    "field.train.loss_params": "损失函数参数",
    "field.train.scheduler": "学习率调度器",
    "field.train.scheduler_params": "调度器参数",
    "accept.train.named_params": "由具名参数组成的 JSON 对象",
    # ---- 与单个字段取值无关的报错
    "error.train.lr_plan": (
        "调度器 {scheduler} 会在第 {step} 步把学习率设为 {lr}；每一步的学习率都必须在 0 到 {cap} 之间（请调小调度器的"
        "系数或学习率）。"
    ),
    "error.train.lr_step": "第 {step} 步的学习率是 {lr}；它必须保持在 0 到 {cap} 之间（请调小调度器的系数或学习率）。",
    "error.train.diverged": "训练在第 {step} 步发散了（损失为 {loss}）；请调小学习率（现在是 {lr}）。",
    "error.train.classes": "这个模型有 {classes} 个输出类别；这里的训练需要 1 个（一张前景 logit 图）。",
    "error.train.too_small": "最小的图像边长只有 {smallest} 像素；这个 U-Net 至少需要 {unit} 像素。",
    "error.train.batch_one": (
        "批大小为 1、裁剪块为 {crop} 像素时，这个 U-Net 最底层只剩 1×1 像素，而 BatchNorm 训练时每个通道需要不止一个值；"
        "请把批大小设为 2 或以上，或使用至少 {twice} 像素的裁剪块（和训练图像）。"
    ),
    "error.train.mask_shape": "第 {index} 个掩码的形状是 {shape}；请用 HxW 的 0/1 数组（或 0/255、布尔值）。",
    "error.train.mask_dtype": "第 {index} 个掩码的数据类型是 {dtype}；请用布尔值或数字 0 和 1（或 0 和 255）。",
    "error.train.mask_values": "第 {index} 个掩码不是二值的（取值 {values}）；请用 0 和 1、0 和 255 或布尔值。",
    "error.train.counts": "收到 {images} 张图像和 {masks} 个掩码；每张图像要配一个掩码。",
    "error.train.name_counts": "收到 {images} 张图像、{masks} 个掩码和 {names} 个名字；每张图像各需一个。",
    "error.train.pairs": "收到 {count} 对图像/掩码；训练需要 2 到 {most} 对。",
    "error.train.pair_size": (
        "第 {index} 张图像是 {width} x {height} 像素，它的掩码却是 {mask_width} x {mask_height}；图像和掩码必须一样大。"
    ),
    "error.train.pixels": "所有图像加起来超过 {most} 个像素；请少用一些图像或用更小的图像。",
    "error.train.unpaired": "这些文件没有配对：{names}；每张图像请以 <name>.png 上传，并配上 <name>_mask.png。",
    "error.train.mask_colour": "掩码 {name} 是彩色图像；请用黑白（0/255）掩码。",
    "error.train.no_files": "还没有上传文件；请上传图像/掩码对（<name>.png 配 <name>_mask.png）。",
    "error.train.no_code": "用 {loss}（在 Python 里直接传入的模块）训练的这次运行没有独立代码可导出。",
}
