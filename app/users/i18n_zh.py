"""Chinese strings of the sign-in, account, users and audit pages (English source -> Chinese)."""

from __future__ import annotations

ZH_USERS: dict[str, str] = {
    "Sign in": "登录",
    "Sign out": "退出登录",
    "User name": "用户名",
    "Password": "密码",
    "Wrong user name or password.": "用户名或密码错误。",
    "This account is disabled.": "该账号已被停用。",
    "On the studio's own machine, `ftstudio users link` prints a one-time sign-in link.": (
        "在运行 FT Studio 的机器上，`ftstudio users link` 会打印一次性登录链接。"
    ),
    "This sign-in link was already used or has expired. Run `ftstudio users link` for a new one.": (
        "此登录链接已使用或已过期。运行 `ftstudio users link` 获取新链接。"
    ),
    "Account": "账号",
    "API tokens": "API 令牌",
    "Your new API token (shown only now; copy it):": "新的 API 令牌（只显示这一次，请立即复制）：",
    "Name": "名称",
    "Expires in (days, empty: never)": "有效期（天，留空表示永不过期）",
    "Create token": "创建令牌",
    "Starts with": "开头",
    "Created": "创建时间",
    "Expires": "过期时间",
    "Last used": "最近使用",
    "revoked": "已吊销",
    "Revoke": "吊销",
    "Users": "用户",
    "Role": "角色",
    "admin": "管理员",
    "member": "成员",
    "Storage used": "已用存储",
    "Quotas: running / queued jobs, storage bytes (empty: no limit)": (
        "配额：运行中 / 排队任务数，存储字节（留空表示不限）"
    ),
    "Save": "保存",
    "Save quota": "保存配额",
    "disabled": "已停用",
    "Enable": "启用",
    "Disable": "停用",
    "New user": "新用户",
    "Create user": "创建用户",
    "User created.": "用户已创建。",
    "Token revoked.": "令牌已吊销。",
    "Audit log": "审计日志",
    "User": "用户",
    "Action": "操作",
    "Filter": "筛选",
    "Time": "时间",
    "Object": "对象",
    "From": "来源",
    "Detail": "详情",
}
