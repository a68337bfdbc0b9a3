// Routes and guards. Signed-out visitors go to /login with `next` set so they come back after
// signing in; an expired session anywhere does the same; admin routes need the root role. In the
// desktop app there is no sign-in page: a signed-out console signs the local person in itself.
import { lazy, Suspense, useEffect, useReducer, useState, type ReactNode } from "react";
import { createBrowserRouter, Navigate, Outlet, RouterProvider, useLocation, useSearchParams } from "react-router";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ApiError, currentUserId, isDesktop, sessionWasLost, setSessionLostHandler, signInDesktop } from "./lib/api";
import { ME_KEY, useMe } from "./lib/hooks";
import { I18nProvider, useT } from "./i18n";
import { ConfirmProvider, ToastProvider } from "./components/overlays";
import { Layout } from "./components/layout";
import { ErrorBox, Spinner } from "./components/ui";
import { LoginPage, RegisterPage, safeNext } from "./pages/auth";

const DashboardPage = lazy(() => import("./pages/dashboard"));
const TokensPage = lazy(() => import("./pages/tokens"));
const ModelsPage = lazy(() => import("./pages/models"));
const UsagePage = lazy(() => import("./pages/usage"));
const GuidePage = lazy(() => import("./pages/guide"));
const AccountPage = lazy(() => import("./pages/account"));
const AdminOverviewPage = lazy(() => import("./pages/admin/overview"));
const ChannelsPage = lazy(() => import("./pages/admin/channels"));
const ChannelGroupsPage = lazy(() => import("./pages/admin/channel-groups"));
const UserGroupsPage = lazy(() => import("./pages/admin/user-groups"));
const CataloguePage = lazy(() => import("./pages/admin/catalogue"));
const UsersPage = lazy(() => import("./pages/admin/users"));
const AdminUsagePage = lazy(() => import("./pages/admin/usage"));
const SettingsPage = lazy(() => import("./pages/admin/settings"));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      refetchOnWindowFocus: false,
      retry: (count, error) => !(error instanceof ApiError && error.status > 0 && error.status < 500) && count < 2,
    },
  },
});

/** The sign-in page, coming back to `location` after; `expired` says a session just ended. */
function loginPath(location: { pathname: string; search: string }, expired = false): string {
  const next = location.pathname + location.search;
  const params = new URLSearchParams();
  if (next && next !== "/") params.set("next", next);
  if (expired) params.set("expired", "1");
  const query = params.toString();
  return query ? `/login?${query}` : "/login";
}

function FullPage() {
  return (
    <div className="center-page">
      <Spinner />
    </div>
  );
}

/** Desktop app: signs in without a password, then calls `done`; an error can be retried. */
function DesktopSignIn({ done }: { done: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [attempt, retry] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    let live = true;
    setError(null);
    signInDesktop().then(
      () => {
        queryClient.removeQueries({ queryKey: ME_KEY });
        if (live) done();
      },
      (err: unknown) => {
        if (live) setError(err);
      },
    );
    return () => {
      live = false;
    };
  }, [attempt, done]);
  if (error === null) return <FullPage />;
  return (
    <div className="center-page">
      <ErrorBox error={error} retry={retry} />
    </div>
  );
}

function RequireAuth() {
  const location = useLocation();
  const me = useMe();
  const [, signedIn] = useReducer((n: number) => n + 1, 0);
  const desktop = isDesktop();
  if (currentUserId() === null) {
    return desktop ? <DesktopSignIn done={signedIn} /> : <Navigate to={loginPath(location, sessionWasLost())} replace />;
  }
  if (me.isPending) return <FullPage />;
  if (me.isError) {
    if (!desktop && me.error instanceof ApiError && (me.error.status === 401 || me.error.status === 403)) {
      return <Navigate to={loginPath(location, true)} replace />;
    }
    return (
      <div className="center-page">
        <ErrorBox error={me.error} retry={() => void me.refetch()} />
      </div>
    );
  }
  return <Layout />;
}

function RequireRoot() {
  const me = useMe().data;
  if (me?.role !== "root") return <Navigate to="/dashboard" replace />;
  return <Outlet />;
}

function Lazy({ children }: { children: ReactNode }) {
  return (
    <Suspense
      fallback={
        <div className="row">
          <Spinner />
        </div>
      }
    >
      {children}
    </Suspense>
  );
}

function NotFound() {
  const t = useT();
  return (
    <div className="center-page">
      <div className="empty">
        <h3>{t("notFound.title")}</h3>
        <p>{t("notFound.text")}</p>
        <a className="btn" href="/dashboard">
          {t("notFound.home")}
        </a>
      </div>
    </div>
  );
}

const page = (node: ReactNode) => <Lazy>{node}</Lazy>;

/** The sign-in and registration pages; the desktop app goes straight on to `next`. */
function SignedOutPage({ children }: { children: ReactNode }) {
  const [params] = useSearchParams();
  if (isDesktop()) return <Navigate to={safeNext(params.get("next"))} replace />;
  return children;
}

const router = createBrowserRouter([
  { path: "/login", element: <SignedOutPage><LoginPage /></SignedOutPage> },
  { path: "/register", element: <SignedOutPage><RegisterPage /></SignedOutPage> },
  { path: "/", element: <Navigate to="/dashboard" replace /> },
  {
    element: <RequireAuth />,
    children: [
      { path: "/dashboard", element: page(<DashboardPage />) },
      { path: "/tokens", element: page(<TokensPage />) },
      { path: "/models", element: page(<ModelsPage />) },
      { path: "/usage", element: page(<UsagePage />) },
      { path: "/guide", element: page(<GuidePage />) },
      { path: "/account", element: page(<AccountPage />) },
      {
        element: <RequireRoot />,
        children: [
          { path: "/admin", element: page(<AdminOverviewPage />) },
          { path: "/admin/channels", element: page(<ChannelsPage />) },
          { path: "/admin/channel-groups", element: page(<ChannelGroupsPage />) },
          { path: "/admin/user-groups", element: page(<UserGroupsPage />) },
          { path: "/admin/models", element: page(<CataloguePage />) },
          { path: "/admin/users", element: page(<UsersPage />) },
          { path: "/admin/usage", element: page(<AdminUsagePage />) },
          { path: "/admin/settings", element: page(<SettingsPage />) },
        ],
      },
    ],
  },
  { path: "*", element: <NotFound /> },
]);

// A call that finds the session gone sends the viewer to sign in, then back here.
// In the desktop app the same page is shown again, which signs in anew.
setSessionLostHandler(() => {
  queryClient.clear();
  const { pathname, search } = window.location;
  if (isDesktop()) void router.navigate(pathname + search, { replace: true });
  else if (pathname !== "/login" && pathname !== "/register") void router.navigate(loginPath({ pathname, search }, true), { replace: true });
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <I18nProvider>
        <ToastProvider>
          <ConfirmProvider>
            <RouterProvider router={router} />
          </ConfirmProvider>
        </ToastProvider>
      </I18nProvider>
    </QueryClientProvider>
  );
}
