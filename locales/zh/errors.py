"""输入错误：统一的句式、可接受的取值，以及各主题共用的字段名。"""

TEXT = {
    "error.value": "{field} 的值为 {value}，不可用；应为{accepted}。",
    "accept.integer_range": " {low} 到 {high} 之间的整数",
    "accept.number_range": " {low} 到 {high} 之间的数",
    "accept.number_above": "大于 {low} 且不超过 {high} 的数",
    "accept.number": "有限的数值",
    "accept.one_of": "以下之一：{options}",
    "accept.text": "不超过 {max_chars} 个字符的非空文本",
    "accept.flag": " True 或 False",
    "error.internal": "服务器内部出错，已记录日志。请换一组取值再试。",
    "error.title.input": "输入有误",
    "error.title.internal": "内部错误",
    "error.request.not_uploaded": (
        "请求中的文件不是上传到本实验室的，无法读取；请先上传文件（gradio_client 中用 handle_file(path)），"
        "再发送上传返回的内容。"
    ),
    "error.request.field": "字段「{field}」收到 {value}，无法接受；请发送页面上该字段对应类型的值。",
    "error.request.inputs": (
        "本次请求的输入与 {endpoint} 的 {count} 个字段对不上；请每个字段发送一个值，类型与页面发送的一致。"
    ),
}
