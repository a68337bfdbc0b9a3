// A small typed i18n: one dictionary per language, the Chinese one typed against the English
// keys so a missing translation fails the build (both languages stay complete). The language
// follows the browser until the viewer picks one in the top bar.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { en } from "./en";
import { zh } from "./zh";
import { setFormatLocale } from "../lib/format";

export type Lang = "en" | "zh";
export type Key = keyof typeof en;
export type T = (key: Key, vars?: Record<string, string | number>) => string;

const dictionaries: Record<Lang, Record<Key, string>> = { en, zh };
const STORAGE_KEY = "realms.lang";

function initialLang(): Lang {
  try {
    const stored = window.localStorage.getItem(STORAGE_KEY);
    if (stored === "en" || stored === "zh") return stored;
  } catch {
    // No storage: use the browser's language.
  }
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  return langs.some((l) => l?.toLowerCase().startsWith("zh")) ? "zh" : "en";
}

function localeOf(lang: Lang): string {
  return lang === "zh" ? "zh-CN" : "en-US";
}

/** Fills `{name}` placeholders. */
function fill(text: string, vars?: Record<string, string | number>): string {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: T;
}

const Context = createContext<I18n | null>(null);

const first = initialLang();
setFormatLocale(localeOf(first));

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(first);
  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    setFormatLocale(localeOf(lang));
  }, [lang]);
  const setLang = useCallback((next: Lang) => {
    setFormatLocale(localeOf(next));
    try {
      window.localStorage.setItem(STORAGE_KEY, next);
    } catch {
      // Kept for this page only.
    }
    setLangState(next);
  }, []);
  const t = useCallback<T>((key, vars) => fill(dictionaries[lang][key] ?? key, vars), [lang]);
  const value = useMemo(() => ({ lang, setLang, t }), [lang, setLang, t]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(Context);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}

export function useT(): T {
  return useI18n().t;
}
