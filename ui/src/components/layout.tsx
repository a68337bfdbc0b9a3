// The signed-in frame: the left navigation grouped as Use and Manage, the top bar with
// language, theme and account menus, and the page outlet.
import { useEffect, useState, type ReactNode } from "react";
import { NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { useI18n, type Key } from "../i18n";
import { isDesktop, post, setCurrentUserId } from "../lib/api";
import { useMe, useSite } from "../lib/hooks";
import { saveTheme, storedTheme, type ThemeChoice } from "../lib/theme";
import {
  IconBook,
  IconBox,
  IconChart,
  IconCog,
  IconGauge,
  IconGlobe,
  IconHome,
  IconKey,
  IconLayers,
  IconLogout,
  IconMenu,
  IconMonitor,
  IconMoon,
  IconServer,
  IconSun,
  IconUser,
  IconUsers,
  IconDatabase,
  IconActivity,
} from "./icons";
import { Menu } from "./ui";

interface NavItem {
  to: string;
  label: Key;
  icon: ReactNode;
  end?: boolean;
}

export const USE_NAV: NavItem[] = [
  { to: "/dashboard", label: "nav.dashboard", icon: <IconHome /> },
  { to: "/tokens", label: "nav.tokens", icon: <IconKey /> },
  { to: "/models", label: "nav.models", icon: <IconBox /> },
  { to: "/usage", label: "nav.usage", icon: <IconChart /> },
  { to: "/guide", label: "nav.guide", icon: <IconBook /> },
];

export const MANAGE_NAV: NavItem[] = [
  { to: "/admin", label: "nav.overview", icon: <IconGauge />, end: true },
  { to: "/admin/channels", label: "nav.channels", icon: <IconServer /> },
  { to: "/admin/channel-groups", label: "nav.channelGroups", icon: <IconLayers /> },
  { to: "/admin/user-groups", label: "nav.userGroups", icon: <IconUsers /> },
  { to: "/admin/models", label: "nav.catalogue", icon: <IconDatabase /> },
  { to: "/admin/users", label: "nav.users", icon: <IconUser /> },
  { to: "/admin/usage", label: "nav.allUsage", icon: <IconActivity /> },
  { to: "/admin/settings", label: "nav.settings", icon: <IconCog /> },
];

function titleFor(path: string): Key | null {
  if (path === "/account") return "nav.account";
  const all = [...USE_NAV, ...MANAGE_NAV].sort((a, b) => b.to.length - a.to.length);
  return all.find((item) => (item.end ? path === item.to : path === item.to || path.startsWith(`${item.to}/`)))?.label ?? null;
}

export function LanguageMenu() {
  const { lang, setLang, t } = useI18n();
  return (
    <Menu label={t("top.language")} trigger={<><IconGlobe /><span className="hide-sm">{lang === "zh" ? "中文" : "English"}</span></>}>
      {(close) => (
        <>
          <button type="button" role="menuitemradio" aria-checked={lang === "en"} onClick={() => { setLang("en"); close(); }}>
            English
          </button>
          <button type="button" role="menuitemradio" aria-checked={lang === "zh"} onClick={() => { setLang("zh"); close(); }}>
            简体中文
          </button>
        </>
      )}
    </Menu>
  );
}

export function ThemeMenu() {
  const { t } = useI18n();
  const [theme, setTheme] = useState<ThemeChoice>(storedTheme());
  const choose = (next: ThemeChoice) => {
    saveTheme(next);
    setTheme(next);
  };
  const icon = theme === "dark" ? <IconMoon /> : theme === "light" ? <IconSun /> : <IconMonitor />;
  return (
    <Menu label={t("top.theme")} trigger={icon}>
      {(close) =>
        (["light", "dark", "system"] as const).map((choice) => (
          <button key={choice} type="button" role="menuitemradio" aria-checked={theme === choice} onClick={() => { choose(choice); close(); }}>
            {choice === "light" ? <IconSun /> : choice === "dark" ? <IconMoon /> : <IconMonitor />}
            {t(`top.theme.${choice}` as Key)}
          </button>
        ))
      }
    </Menu>
  );
}

function AccountMenu() {
  const { t } = useI18n();
  const me = useMe().data;
  const navigate = useNavigate();
  const qc = useQueryClient();
  const signOut = async () => {
    try {
      await post("/api/auth/logout");
    } catch {
      // Signed out locally either way.
    }
    setCurrentUserId(null);
    qc.clear();
    navigate("/login", { replace: true });
  };
  return (
    <Menu label={t("top.account")} trigger={<><IconUser /><span className="hide-sm">{me?.username}</span></>}>
      {(close) => (
        <>
          <div className="menu-head">
            <div>{me?.username}</div>
            <div className="small faint">{me?.email}</div>
            <div className="small faint">{me?.role === "root" ? t("role.root") : t("role.user")}</div>
          </div>
          <button type="button" onClick={() => { close(); navigate("/account"); }}>
            <IconUser />
            {t("nav.account")}
          </button>
          {/* The desktop window signs its owner in by itself: signing out would not stick. */}
          {isDesktop() ? null : (
            <button type="button" className="danger" onClick={() => { close(); void signOut(); }}>
              <IconLogout />
              {t("top.signOut")}
            </button>
          )}
        </>
      )}
    </Menu>
  );
}

export function Layout() {
  const { t } = useI18n();
  const me = useMe().data;
  const site = useSite().data;
  const location = useLocation();
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [location.pathname]);
  const title = titleFor(location.pathname);
  useEffect(() => {
    document.title = title ? `${t(title)} · Realms` : "Realms";
  }, [title, t]);
  const link = (item: NavItem) => (
    <NavLink key={item.to} to={item.to} end={item.end} className={({ isActive }) => `nav-link ${isActive ? "active" : ""}`}>
      {item.icon}
      <span>{t(item.label)}</span>
    </NavLink>
  );
  return (
    <div className="app">
      <nav className={`sidebar ${open ? "open" : ""}`} aria-label={t("nav.main")}>
        <NavLink to="/dashboard" className="brand">
          <span className="brand-mark">R</span>
          <span>Realms</span>
        </NavLink>
        <div className="nav-group">
          <div className="nav-title">{t("nav.use")}</div>
          {USE_NAV.map(link)}
        </div>
        {me?.role === "root" ? (
          <div className="nav-group" data-testid="manage-nav">
            <div className="nav-title">{t("nav.manage")}</div>
            {MANAGE_NAV.map(link)}
          </div>
        ) : null}
        <div className="sidebar-foot">{site ? `v${site.version}` : null}</div>
      </nav>
      <div className={`scrim ${open ? "open" : ""}`} onClick={() => setOpen(false)} />
      <div className="main">
        <header className="topbar">
          <button type="button" className="btn ghost icon menu-btn" onClick={() => setOpen(true)} aria-label={t("nav.open")}>
            <IconMenu />
          </button>
          <div className="topbar-title">{title ? t(title) : ""}</div>
          <div className="topbar-spacer" />
          <LanguageMenu />
          <ThemeMenu />
          <AccountMenu />
        </header>
        <main className="content">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
