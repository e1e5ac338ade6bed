"""模型保存与读取标签页（5.4）：页面文字、服务器写出的文字、教程中的坑，以及 lab.checkpoints 的每一句拒绝。"""

TEXT = {
    # ------------------------------------------------------------------------------------------------ 字段名
    "field.checkpoints.what": "保存的内容",
    "field.checkpoints.format": "文件格式",
    "field.checkpoints.wrapper": "多卡包装",
    "field.checkpoints.save_wrapper": "包装方式",
    "field.checkpoints.unwrap": "保存 model.module",
    "field.checkpoints.saved": "保存时",
    "field.checkpoints.loaded": "加载时",
    "field.checkpoints.case": "情况",
    "field.checkpoints.case_format": "情况演示的文件格式",
    "field.checkpoints.model": "模型",
    # ------------------------------------------------------------------------------------------------ 拒绝的理由
    "error.checkpoints.walk_visits": (
        "{what}中要查看的条目超过 {limit} 个（同一个条目被多处引用时，每处各算一次）；只接受最多 {limit} 个条目的文件。"
    ),
    "error.checkpoints.walk_depth": "{what}的容器嵌套超过 {limit} 层；只接受嵌套不超过 {limit} 层的文件。",
    "checkpoints.walk.checkpoint": "这个 checkpoint",
    "checkpoints.walk.versions": "这个 checkpoint 的模块版本信息",
    "checkpoints.walk.optimizer": "优化器状态",
    "error.checkpoints.st_header_claim": (
        "文件 {name} 的 safetensors 文件头声称有 {claim} 字节，而整个文件只有 {size} 字节；文件被截断或已损坏："
        "请上传完整的 .safetensors 文件。"
    ),
    "error.checkpoints.st_header_big": (
        "文件 {name} 的 safetensors 文件头有 {mib} MiB；只接受不超过 {limit} MiB 的文件头（约 150,000 个张量）。"
    ),
    "error.checkpoints.not_checkpoint": (
        "文件 {name} 不是模型文件（{described}）；只接受 torch.save 保存的文件（.pt/.pth/.pkl）或 .safetensors 文件。"
    ),
    "checkpoints.looks_like": "看起来是{kind}",
    "checkpoints.starts_with": "开头的字节是 {hex}",
    "checkpoints.kind.png": "一张 PNG 图片",
    "checkpoints.kind.jpeg": "一张 JPEG 图片",
    "checkpoints.kind.gif": "一张 GIF 图片",
    "checkpoints.kind.pdf": "一个 PDF 文档",
    "checkpoints.kind.gzip": "一个 gzip 压缩包",
    "checkpoints.kind.bzip2": "一个 bzip2 压缩包",
    "checkpoints.kind.xz": "一个 xz 压缩包",
    "checkpoints.kind.7z": "一个 7-Zip 压缩包",
    "checkpoints.kind.empty_zip": "一个空的 zip 压缩包",
    "checkpoints.kind.text": "一个文本文件",
    "error.checkpoints.corrupt": (
        "文件 {name} 被截断或已损坏：{reason}；请上传完整的模型文件（torch.save 保存的 .pt/.pth/.pkl，或 "
        ".safetensors）。"
    ),
    "checkpoints.corrupt.objects_unreadable": "它的对象列表无法读取",
    "checkpoints.corrupt.no_directory": "缺少 zip 目录",
    "checkpoints.corrupt.zip_unreadable": "它的 zip 条目无法读取",
    "checkpoints.corrupt.missing_record": "它引用了文件里没有的张量记录",
    "checkpoints.corrupt.more_data": "某个张量声称的数据比文件中对应记录的还多",
    "checkpoints.corrupt.byte_size": "某个张量的数据大小与文件头声明的不一致",
    "checkpoints.corrupt.memory": "某个张量声称需要的内存超过了这台服务器所有的",
    "checkpoints.corrupt.ends_early": "文件在最后一个张量之前就结束了",
    "checkpoints.corrupt.impossible_size": "某个张量声称的大小不可能存在",
    "checkpoints.corrupt.negative_size": "某个张量声称的大小是负数",
    "checkpoints.corrupt.ends_before_object": "文件在最后一个对象之前就结束了",
    "checkpoints.corrupt.not_plain": "其中的对象不是模型文件该有的张量、数字、字符串、列表和字典",
    "checkpoints.corrupt.unreadable": "无法作为模型文件读取",
    "error.checkpoints.blocked": (
        "文件 {name} 被拒绝：它包含{what}，只接受张量、数字、字符串、列表和字典；请用 "
        "torch.save(model.state_dict(), path) 重新保存。"
    ),
    "checkpoints.blocked.bytearray": "一个 bytearray（它可以申请任意多的内存）",
    "error.checkpoints.unsafe": (
        "文件 {name} 被拒绝：它包含{what}，反序列化（unpickle）它会导入并执行代码（{listed}），而这些代码在这台机器上"
        "可以做任何事，所以只接受只含张量的文件；请用 torch.save(model.state_dict(), path) 或 .safetensors 重新保存。"
    ),
    "checkpoints.unsafe.namespace": "一个 argparse Namespace（把 args 存成普通的 dict 即可）",
    "checkpoints.unsafe.bound_method": "一个绑定方法（`torch.save(model.state_dict, path)` 少了括号）",
    "checkpoints.unsafe.whole_model": "一个 pickle 保存的整个模型（模型的类是代码）",
    "checkpoints.unsafe.objects": "张量以外的 Python 对象",
    "checkpoints.unsafe.unknown": "未知的全局对象",
    "error.checkpoints.pickle_ops": (
        "文件 {name} 描述的 pickle 对象超过 {limit} 个；只接受不超过 {limit} 个对象的模型文件"
        "（约 13,000 个张量及其名字）。"
    ),
    "error.checkpoints.plain_pickle": (
        "文件 {name} 是普通的 Python pickle，不是 torch.save 保存的模型文件；请用 torch.save(model.state_dict(), path) "
        "或 .safetensors 保存权重。"
    ),
    "error.checkpoints.legacy_big": (
        "文件 {name} 是旧格式（1.6 之前、非 zip）的 torch 文件，大小 {mib} MiB；这种文件要整个读进内存，所以最多接受 "
        "{limit} MiB：请用新版的 torch.save 重新保存。"
    ),
    "error.checkpoints.pickle_list_over": (
        "文件 {name} 的对象列表超过 {limit} MiB 的 pickle；只接受对象列表不超过 {limit} MiB 的模型文件。"
    ),
    "error.checkpoints.pickle_list_big": (
        "文件 {name} 的对象列表有 {mib} MiB 的 pickle；只接受对象列表不超过 {limit} MiB 的模型文件。"
    ),
    "error.checkpoints.zip_entries": (
        "文件 {name} 是一个 zip，目录 {directory} 字节、{entries} 个条目；只接受不超过 {limit} 个条目（每个张量一个）的"
        "模型文件。"
    ),
    "error.checkpoints.zip_compressed": (
        "文件 {name} 里有压缩过的条目（{entry}）；torch.save 写的条目不压缩，所以它被重新打包过或已损坏：请上传 "
        "torch.save 写出的原文件。"
    ),
    "error.checkpoints.zip_not_torch": (
        "文件 {name} 是 zip 压缩包，但不是 torch.save 保存的模型文件（里面没有 data.pkl）；只接受 torch.save 保存的"
        "文件（.pt/.pth/.pkl）或 .safetensors 文件。"
    ),
    "error.checkpoints.unwritable": (
        "文件 {name} 无法写入（{reason}）；请在可写的文件夹里用字母、数字、'_' 和 '.' 组成的短文件名。"
    ),
    "error.checkpoints.args_type": "参数 'args' 是 {kind}；应为 dict（或 argparse Namespace）。",
    "error.checkpoints.args_data": "参数 'args' 里有不是普通数据的值（{reason}）；请只用数字、字符串和列表。",
    "error.checkpoints.too_big": (
        "把这个 {model}（{params} 个参数）以 {what} 保存为 {suffix}，文件会有 {mib} MiB；本实验室最多读回 {limit} MiB "
        "的文件，所以也最多保存这么大：请换一个小一些的模型。"
    ),
    "error.checkpoints.suffix": "文件名 {name} 的格式是 {suffix}；请用以下之一：{formats}。",
    "error.checkpoints.safetensors_what": (
        ".safetensors 格式存不下 what={what}：它只存张量；请在这里保存 what='state_dict'，整个模型或训练 checkpoint "
        "请用 .pt/.pth/.pkl。"
    ),
    "error.checkpoints.safetensors_extra": "条目 {key} 是 {kind}；.safetensors 只存张量，其他内容请用 .pt。",
    "error.checkpoints.epoch": "参数 'epoch' 的值为 {value}；应为大于等于 0 的整数。",
    "error.checkpoints.unpicklable": (
        "整个 {model} 无法用 pickle 保存：{holds}是代码或运行中的资源，不是数据；请改为保存 what='state_dict'。"
    ),
    "checkpoints.pickle.holds": "它包含的 {name} ",
    "checkpoints.pickle.part": "其中一部分",
    "error.checkpoints.cuda_file": (
        "文件 {name} 是在 CUDA GPU 上保存的，而这台机器没有 GPU；请用 map_location='cpu' 读取（再用 .to(device) "
        "移动模型）。"
    ),
    "error.checkpoints.st_tensors": "文件 {name} 有 {count} 个张量；只接受不超过 {limit} 个张量的文件。",
    "error.checkpoints.st_invalid": (
        "文件 {name} 不是有效的 safetensors 文件：{reason}；请上传完整的文件（safetensors.torch.save_file 写出的）。"
    ),
    "checkpoints.st_invalid.dtype": "某个张量的数据类型 safetensors 不认识",
    "checkpoints.st_invalid.layout": "某个张量的形状、数据类型或偏移与其数据对不上",
    "checkpoints.st_invalid.offsets": "某个张量的偏移超出了文件",
    "checkpoints.st_invalid.numbers": "某个张量的形状或偏移不是整数",
    "checkpoints.st_invalid.json": "文件头不是 safetensors 写出的 JSON",
    "checkpoints.st_invalid.header": "文件头与数据对不上",
    "error.checkpoints.no_file": "文件 {name} 不存在；请上传或选择一个模型文件。",
    "error.checkpoints.empty_file": "文件 {name} 是空的（0 字节）；请上传模型文件。",
    "error.checkpoints.file_big": "文件 {name} 有 {mib} MiB；只接受不超过 {limit} MiB 的文件。",
    "error.checkpoints.text_string": (
        "文件 {name} 存的是一个文本字符串，不是模型文件；只接受 state_dict（张量组成的字典）或训练 checkpoint 字典。"
    ),
    "error.checkpoints.state_dict_type": "参数 'state_dict' 是 {kind}；应为键到张量的映射（mapping）。",
    "error.checkpoints.prefix": "参数 'prefix' 的值为 {value}；应为字符串，例如 'module.'。",
    "error.checkpoints.not_weights": (
        "这个 checkpoint 存的是 {kind}，不是权重；只接受 state_dict（张量组成的字典）或训练 checkpoint 字典。"
    ),
    "error.checkpoints.no_weights": (
        "在 checkpoint 中没有找到权重（顶层的键：{keys}）；只接受 state_dict，或把权重放在以下某个键下的字典：{names}。"
    ),
    "error.checkpoints.does_not_fit": "这个 checkpoint 与这个 {model} 对不上：{problems}。",
    "error.checkpoints.nothing_fits": "这个 checkpoint 没有一个键对得上这个 {model}：{problems}。",
    "error.checkpoints.ddp_frozen": (
        "DDP 至少需要一个可训练的参数，而这个模型一个都没有；请解冻某一层，或改用 DataParallel。"
    ),
    "error.checkpoints.config_data": "参数 'config' 不是 JSON 数据（{reason}）；请只用数字、字符串、列表和字典。",
    "error.checkpoints.config_missing": "在 {weights} 旁边没有配置文件 {name}；请用 save_with_config 保存。",
    "error.checkpoints.config_big": "配置文件 {name} 有 {mib} MiB；只接受不超过 {limit} KiB 的配置 JSON。",
    "error.checkpoints.config_json": "配置文件 {name} 不是有效的 JSON{where}；请用 save_with_config 重新保存。",
    "checkpoints.config.at": "（第 {line} 行，第 {column} 列）",
    "error.checkpoints.config_type": "配置文件 {name} 存的是 {kind}；应为 JSON 对象。",
    "error.checkpoints.config_mismatch": (
        "配置文件 {name} 与 {model} 对不上：{problem}；{model} 接受的参数是 {takes}：请使用与这些权重一起保存的 JSON。"
    ),
    "checkpoints.config.unknown": "其中有 {model} 不接受的键（{keys}）",
    "checkpoints.config.lacks": "其中缺少 {keys}",
    "checkpoints.config.kind": "其中某个值的类型不是构造函数接受的",
    "checkpoints.config.own": "它自己的参数",
    "error.checkpoints.no_input": "无法为 {model} 猜出一个输入：它没有 Linear、Conv 或 Embedding 层。",
    "error.checkpoints.forward": "模型在猜测的形状为 {shapes} 的输入上运行失败（{reason}）。",
    "error.checkpoints.model_type": "参数 'model' 是 {kind}；应为模型的 id，例如 'default'。",
    "error.checkpoints.model_not_built": (
        "参数 'model' 的值为"
        " {value}，本次会话还没有构建这个模型；请从以下选择：{have}。"
    ),
    "error.checkpoints.no_upload": "没有上传文件；请上传 .pt、.pth、.pkl 或 .safetensors 文件。",
    # ------------------------------------------------------------------------------------------------ 报告用语
    "checkpoints.none": "无",
    "checkpoints.join": "{first}；{rest}",
    "checkpoints.note.whole_model": "文件里是整个 {model} 模型；使用了它的 state_dict()",
    "checkpoints.note.checkpoint": "训练 checkpoint：在 {name} 下找到权重{also}",
    "checkpoints.note.also": "；另外还有 {keys}",
    "checkpoints.note.found_under": "在 {key} 下找到权重",
    "checkpoints.note.skipped": "跳过了 {count} 个{what}（{keys}）：{why}",
    "checkpoints.note.extra_one": "非张量条目",
    "checkpoints.note.extra_many": "非张量条目",
    "checkpoints.note.unnamed_one": "张量",
    "checkpoints.note.unnamed_many": "张量",
    "checkpoints.note.odd_one": "张量",
    "checkpoints.note.odd_many": "张量",
    "checkpoints.note.why_extra": "这是元数据，不是权重",
    "checkpoints.note.why_unnamed": "state_dict 的键是层名，而这些键不是字符串",
    "checkpoints.note.why_odd": "稀疏、量化、嵌套（nested）、meta 或打包（packed）的张量不能作为权重",
    "checkpoints.fix.stripped": "去掉了 {count} 个键开头的 {prefix}",
    "checkpoints.fix.added": "为包装过的模型在键前加上了 {prefix}",
    "checkpoints.problems.missing": "缺少 {count} 个（{keys}{more}）",
    "checkpoints.problems.unexpected": "多出 {count} 个（{keys}{more}）",
    "checkpoints.problems.mismatched": "形状不符 {count} 个（{key}：文件中 {saved}，模型中 {model}{more}）",
    "checkpoints.problems.more": "，另有 {count} 个",
    "checkpoints.kind.tensor": "张量",
    "checkpoints.kind.nested": "张量（nested）",
    "checkpoints.kind.ragged": "（长短不一）",
    "checkpoints.kind.layout": "张量（{layout}）",
    "checkpoints.kind.quantized": "张量（量化）",
    "checkpoints.kind.meta": "张量（meta：没有数据）",
    "checkpoints.kind.dicts": "{count} 个 dict 组成的列表",
    "checkpoints.kind.whole_model": "（整个模型）{model}",
    "checkpoints.kind.cut_rows": "只列出前 {rows} 行：文件中还有更多条目",
    "checkpoints.kind.cut": "列表到此为止：{reason}",
    "checkpoints.case.fix.single_single": "不需要处理：键名一致",
    "checkpoints.case.fix.single_multi": "先加载到没有包装的模型里，再包装：包装器会自己加上 'module.'",
    "checkpoints.case.fix.multi_single": (
        "去掉开头的 'module.'（consume_prefix_in_state_dict_if_present）；更好的做法是保存 model.module.state_dict()"
    ),
    "checkpoints.case.fix.multi_multi": "不需要处理：两边都有 'module.'",
    # ------------------------------------------------------------------------------------------------ 页面
    "checkpoints.intro": (
        "### 5.4 · 模型保存与读取，避开其中的坑\n"
        "把你在其他标签页里构建的模型（或者默认的小 CNN）保存下来：可以只存权重、存整个模型（pickle），"
        "也可以存训练用的 "
        "checkpoint，格式可选 `.pt`、`.pth`、`.pkl` 或 `.safetensors`；其中三种 torch 后缀其实是同一种 `torch.save` "
        "格式（5.4.1）。下面还能现场演示 5.4.4 中单卡/多卡的四种情况，并且可以安全地读取任何模型文件：文件一律用 "
        "`weights_only=True` 或 safetensors 读取，想执行代码的文件会被拒绝，其中的代码一行也不会运行。"
    ),
    "checkpoints.model": "要操作的模型",
    "checkpoints.default_model": "默认：小型 CNN",
    "checkpoints.loaded_model": "模型保存与读取：已加载",
    "checkpoints.model.info": (
        "**{label}**：`{model}`，参数 {params} 个（可训练 {trainable}"
        " 个），state_dict 的键：{keys}"
    ),
    "checkpoints.model.missing": (
        "⚠️ 这个链接要展示「{label}」标签页的模型，但本次会话还没有构建它：请先在那里构建，再回到这里选择。"
        "现在先展示默认的 CNN。"
    ),
    "checkpoints.keys.more": "{keys} …（共 {count} 个键）",
    "checkpoints.keys.all": "{keys}（共 {count} 个键）",
    "checkpoints.save.heading": "### 保存",
    "checkpoints.what": "保存的内容",
    "checkpoints.what.state_dict": "权重（state_dict）",
    "checkpoints.what.model": "整个模型（pickle）",
    "checkpoints.what.checkpoint": "训练 checkpoint（5.4.5）",
    "checkpoints.format": "文件格式",
    "checkpoints.wrapper": "先像多卡训练那样包装模型",
    "checkpoints.wrapper.info": (
        "DistributedDataParallel（DDP）在这里运行于只有一个进程的 gloo 进程组中：gloo 是 PyTorch 在 CPU 上做进程间"
        "通信的后端。"
    ),
    "checkpoints.wrapper.none": "不包装（单卡）",
    "checkpoints.unwrap": "保存 model.module（去掉包装）：教程对多卡模型的建议",
    "checkpoints.save": "保存",
    "checkpoints.file": "下载模型文件",
    "checkpoints.facts": "写入的内容",
    "checkpoints.fact.file": "文件",
    "checkpoints.fact.size": "大小",
    "checkpoints.fact.what": "内容",
    "checkpoints.fact.keys": "键的个数",
    "checkpoints.fact.first_keys": "前几个键",
    "checkpoints.fact.sha": "SHA-256",
    "checkpoints.fact.code": "代码",
    "checkpoints.size": "{size}（{bytes} 字节）",
    "checkpoints.size.small": "{bytes} 字节",
    "checkpoints.code.rebuilt": "用「{tab}」标签页的代码重新构建这个 {model}，再用同样的方式保存",
    "checkpoints.code.default": "用本实验室运行的 `default_model()` 构建默认的 CNN，再用同样的方式保存",
    "checkpoints.code.weights_from.train": "；它的权重来自训练，代码里的是新初始化的：键和大小相同",
    "checkpoints.code.weights_from.checkpoints": "；它的权重来自你上传的文件，代码里的是新初始化的：键和大小相同",
    "checkpoints.code.none": "没有哪个标签页的代码能重建这个 {model}：代码里会写明这一点，并从你保存的文件开始",
    "checkpoints.save_code": "用同样方式保存这个模型的 PyTorch 代码",
    "checkpoints.code.save.title": "保存模型",
    "checkpoints.cases.text": (
        "**5.4.4 · 四种情况。** `nn.DataParallel` 和 `DistributedDataParallel` 都把你的模型存在 `.module` 里，所以"
        "每个键前面都多了 `module.`。每个格子都会保存模型（包装或不包装），新建一个随机权重不同的模型，把文件加载"
        "进去（包装或不包装），再检查两者在同一个输入上的输出是否逐位相同。这里的 DDP 在 CPU 上、只有一个进程的 gloo "
        "进程组中运行（gloo：PyTorch 在 CPU 上做进程间通信的后端）；在 GPU 上键名完全一样。"
    ),
    "checkpoints.case_wrapper": "多卡包装方式",
    "checkpoints.cases.run": "运行四种情况",
    "checkpoints.side.single": "单卡",
    "checkpoints.side.multi": "多卡",
    "checkpoints.case.title": "#### {saved}保存，{loaded}加载",
    "checkpoints.case.file_keys": "- 文件中的键：{keys}",
    "checkpoints.case.model_keys": "- 加载到的模型的键：{keys}",
    "checkpoints.case.fix": "- 处理方法：{fix}",
    "checkpoints.case.fix_load": "{fix}（load_into：{fixes}）",
    "checkpoints.case.equal": "- **输出逐位相同** ✓（加载前最多相差 {before}）",
    "checkpoints.case.differ": "- **输出不同**（最大差值 {diff}；加载前最多相差 {before}）",
    "checkpoints.case_shown": "查看哪种情况的代码",
    "checkpoints.case.choice.single_single": "单卡保存，单卡加载",
    "checkpoints.case.choice.single_multi": "单卡保存，多卡加载",
    "checkpoints.case.choice.multi_single": "多卡保存，单卡加载",
    "checkpoints.case.choice.multi_multi": "多卡保存，多卡加载",
    "checkpoints.case_code": "这种情况的 PyTorch 代码",
    "checkpoints.code.case.title": "单卡与多卡：模型的保存与读取",
    "checkpoints.load.heading": "### 安全地读取模型文件",
    "checkpoints.upload": "模型文件（.pt .pth .pkl .safetensors，最大 640 MiB）",
    "checkpoints.load": "安全读取",
    "checkpoints.counts": "与所选模型对比的键",
    "checkpoints.inside": "文件里有什么",
    "checkpoints.keys": "逐个键",
    "checkpoints.load_code": "用同样方式读取它的 PyTorch 代码",
    "checkpoints.code.load.title": "安全地读取模型文件",
    "checkpoints.status.loaded": (
        "**已加载**到「{model}」的副本中：全部 {count} 个键都对上了。现在它就是上面下拉框里的「{loaded}」。"
    ),
    "checkpoints.status.not_loaded": "**没有加载**到「{model}」中：{problems}。",
    "checkpoints.status.fix": "- 做了处理：{fix}",
    "checkpoints.status.note": "- {note}",
    "checkpoints.status_word.loaded": "已加载",
    "checkpoints.status_word.missing": "缺少",
    "checkpoints.status_word.unexpected": "多余",
    "checkpoints.status_word.mismatched": "形状不符",
    "checkpoints.col.field": "项目",
    "checkpoints.col.value": "值",
    "checkpoints.col.status": "状态",
    "checkpoints.col.keys": "键数",
    "checkpoints.col.key": "键",
    "checkpoints.col.kind": "类型",
    "checkpoints.col.shape": "形状",
    "checkpoints.col.dtype": "dtype",
    "checkpoints.col.numel": "元素个数",
    "checkpoints.col.model_key": "模型中的键",
    "checkpoints.col.file_key": "文件中的键",
    "checkpoints.col.saved_shape": "文件中的形状",
    "checkpoints.col.model_shape": "模型中的形状",
    "checkpoints.col.missing": "文件里缺少的键",
    "checkpoints.col.unexpected": "文件里多出的键",
    "checkpoints.col.order": "设置时机",
    "checkpoints.col.init_before": "开始时 is_initialized()",
    "checkpoints.col.init_after": "结束时 is_initialized()",
    "checkpoints.order.after": "在 CUDA 启动之后设置",
    "checkpoints.order.before": "在 CUDA 启动之前设置",
    "checkpoints.pitfalls": "教程中的坑：5.4 的代码保存或读取出错的九种情况，现场运行",
    "checkpoints.pitfalls.intro": (
        "每个错误都会在所选的模型上现场运行（涉及多卡的，用上面四种情况所选的包装方式），并与正确写法放在一起对照。"
        "教程中照原样无法运行的代码只做 compile，从不执行。多卡训练时请保存和读取权重，不要保存整个模型；不是你自己"
        "保存的文件，只用 `weights_only=True` 或 safetensors 读取。"
    ),
    "checkpoints.cuda": (
        "教程中的坑：在 CUDA 启动之后才设置"
        " CUDA_VISIBLE_DEVICES（5.4.3），在两个新的 Python 进程中运行"
    ),
    "checkpoints.cuda.intro": (
        "5.4.3 在脚本里设置 `os.environ[\"CUDA_VISIBLE_DEVICES\"]`。这样做是否生效取决于时机：下面两种先后顺序各自在"
        "一个新的 Python 进程中运行（每个都要导入 torch，需要几秒钟）。"
    ),
    # ------------------------------------------------------------------------------------------------ 教程中的坑
    "pitfall.checkpoints.no_parens.title": "`torch.save(model.state_dict, path)`：存的是方法，不是权重",
    "pitfall.checkpoints.no_parens.why": (
        "少了括号，`model.state_dict` 就是一个绑定方法，pickle 它会把整个模型一起带进去：文件有 {wrong_bytes} 字节，"
        "而不是 {right_bytes} 字节，反序列化它需要 {globals}。从 torch 2.6 起 `torch.load` 默认用 "
        "`weights_only=True` 读取，会拒绝它；若改用 `weights_only=False`，文件让它执行什么它就执行什么。加上括号，文件"
        "里就只有张量，可以安全读取。"
    ),
    "pitfall.checkpoints.weights_only.title": "checkpoint 里存了 argparse 的 `Namespace`，用默认参数读取",
    "pitfall.checkpoints.weights_only.why": (
        "5.4.5 把解析好的命令行参数（`args`）也存进训练 checkpoint。从 torch 2.6 起（这里是 torch {torch}）"
        "`torch.load` 默认 `weights_only=True`，只会重建张量、数字、字符串、列表和字典；`Namespace` 需要 {globals}，"
        "所以读取被拒绝。改存 `vars(args)` 这个普通的 dict：用 `weights_only=True` 就能读，别人的文件也永远不能在你的"
        "机器上执行代码。"
    ),
    "pitfall.checkpoints.assign_state_dict.title": "`loaded_model.state_dict = loaded_dict` 什么也没加载",
    "pitfall.checkpoints.assign_state_dict.why": (
        "5.4.4 把字典赋值给 `state_dict`。这只是用一个属性替换掉了模型的方法，一个张量也没有复制：权重还是新初始化的"
        "随机值，和保存的权重相差得跟之前一样多。只有 `load_state_dict(...)` 才会把张量复制进去（并检查每个键和形状）。"
    ),
    "pitfall.checkpoints.prefixed_into_plain.title": (
        "把带 `module.` 的文件加载进没有包装的模型；一段代码用了未定义的变量，另一段多了一个 `)`"
    ),
    "pitfall.checkpoints.prefixed_into_plain.why": (
        "从包装过的模型保存的文件，每个键前面都有 `module.`；没有包装的模型要的是不带前缀的键，所以 "
        "`load_state_dict` 拒绝加载：缺少 {missing} 个键，多出 {unexpected} 个（见表格）。5.4.4 的"
        "“去除字典里的module麻烦，往model里添加module简单”是先加载再包装的，所以就停在这里；它最后一行还读取了 "
        "{undefined}，而在它之前没有任何一段代码定义过这个变量（是下一段代码才定义的：{later}）：`compile()` 能通过，"
        "真运行会报 NameError。情况 4 的代码连 compile 都通不过：第 {line} 行 `{code}` 报 `{syntax}`。正确做法是先"
        "包装再加载（见右边），或者去掉前缀。"
    ),
    "pitfall.checkpoints.slice_seven.title": "`k[7:]` 把每个键都砍掉 7 个字符",
    "pitfall.checkpoints.slice_seven.why": (
        "5.4.4 的“遍历字典去除module”假定每个键都以 `module.`（7 个字符）开头。单卡保存的文件并不是这样，"
        "`k[7:]` 把真正的层名砍掉了（见表格）；{keys} 个键里甚至有 {collapsed} 个和别的键撞成了同一个。"
        "`consume_prefix_in_state_dict_if_present(sd, 'module.')`（或 `k.removeprefix('module.')`）只在键以 "
        "`module.` 开头时才去掉它。"
    ),
    "pitfall.checkpoints.replace_everywhere.title": "`k.replace('module.', '')` 会去掉所有的 `module.`，包括层名里的",
    "pitfall.checkpoints.replace_everywhere.why": (
        "这个模型自己有一层叫 `module`（`backbone.module`）；用 {wrapper} 包装后保存，键就成了 "
        "`module.backbone.module.weight`。`replace` 把两处都去掉了，键变成 `backbone.weight`，而模型里没有这个键。"
        "只去掉开头的前缀即可。"
    ),
    "pitfall.checkpoints.double_wrap.title": "把已经包装过的模型再包装一次",
    "pitfall.checkpoints.double_wrap.why": (
        "用 {wrapper} 包装了两次（比如一个会包装模型的函数，被用在已经包装过的模型上），键就成了 `{twice}`：只包装过"
        "一次的模型（键是 `{once}`）不接受它们。先去掉包装（`model.module`）再包装一次；或者保存 "
        "`model.module.state_dict()`，加载到没有包装的模型里。"
    ),
    "pitfall.checkpoints.map_location.title": "`torch.load(path)` 不指定 `map_location`",
    "pitfall.checkpoints.map_location.why": (
        "文件会记住每个张量所在的设备（这个文件写的是 {locations}），不指定 `map_location` 的 `torch.load` 会把每个"
        "张量放回原来的设备：在 GPU 上保存的文件，到了没有 GPU 的机器上就读不了；到了另一台有 GPU 的机器上，不管你用"
        "哪个设备，都会落在 cuda:0 上。有 GPU 时本实验室从 GPU 上写这个文件，没有时就写上和 GPU 保存时一样的存储标签。"
        "`map_location='cpu'` 读取，再 `model.to(device)`，在哪里都能用。"
    ),
    "pitfall.checkpoints.whole_dataparallel.title": "用 pickle 保存的整个 `DataParallel` 模型，再取 `.module`",
    "pitfall.checkpoints.whole_dataparallel.why": (
        "5.4.4 用 `torch.load(save_dir).module` 读取 pickle 保存的整个 DataParallel 模型。从 torch 2.6 起这会被拒绝："
        "整个模型是代码，不是数据。用 `weights_only=False` 读取（只用于你自己保存的文件）后，`.module` 就是没有包装的"
        "模型，而包装器会带着保存时的 GPU 编号一起回来：这里是 `device_ids={device_ids}`、"
        "`output_device={output_device}`，存储在 {locations} 上（这台机器有 {gpus} 块 GPU；没有 GPU 时 DataParallel "
        "只是包一层，别的什么也不做）。换到 GPU 不同或更少的机器上，这些编号指向不存在的设备，模型会报错，或者跑到"
        "你没指定的卡上：多卡训练时请保存和读取权重，不要保存整个模型。"
    ),
    "pitfall.checkpoints.cuda_visible_devices.title": "在 CUDA 启动之后才设置 `CUDA_VISIBLE_DEVICES`",
    "pitfall.checkpoints.cuda_visible_devices.why": (
        "CUDA 只在启动时（第一次 `.cuda()` 或第一次在 GPU 上创建张量时）读取一次 `CUDA_VISIBLE_DEVICES`。两种顺序都在"
        "新的 Python 进程中运行，`CUDA_VISIBLE_DEVICES = {value}`：在 CUDA 启动之后设置，`device_count()` 为 {after}；"
        "先设置，为 {before}。这台机器有 {gpus} 块 GPU；没有 GPU 时两者都是 0，CUDA 也从不启动（`is_initialized()` "
        "一直是 False），能看到的只是这个变量会在什么时候被读取。请在任何代码碰到 CUDA 之前设置它：在 shell 里"
        "（`CUDA_VISIBLE_DEVICES=0 python train.py`），或者放在脚本的最开头。"
    ),
}
